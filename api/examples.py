"""Examples shown in the OpenAPI document: a request body per write operation, a problem per error status."""
from __future__ import annotations

from api.problems import TITLES, TYPE_BASE

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PHOTO_SHA = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


def _problem(code: str, status: int, detail: str, *, title: str | None = None, **extra) -> dict:
    return {"type": TYPE_BASE + code, "title": title or TITLES[status], "status": status, "detail": detail, **extra}


# By status, the usual problem first; other kinds of the same status by their type code.
PROBLEMS: dict[int, dict[str, dict]] = {
    400: {"malformed-json": _problem("malformed-json", 400, "the request body is not valid JSON")},
    401: {"unauthorized": _problem("unauthorized", 401, "the token is unknown or revoked")},
    403: {"forbidden": _problem("forbidden", 403, "this needs one of the roles: admin", reason="role"),
          "separation_of_duties": _problem("forbidden", 403, "the person who submitted the fix may not verify it",
                                           reason="separation_of_duties")},
    404: {"not-found": _problem("not-found", 404, "item ZG-2026-000123 not found")},
    409: {"conflict": _problem("conflict", 409, "unit 'CITY-EDU' already exists"),
          "invalid-transition": _problem("invalid-transition", 409, "'approve' is not allowed from state 'rectifying'",
                                         state="rectifying", allowed_triggers=["submit", "request_extension"])},
    412: {"version-conflict": _problem("version-conflict", 412, "item is at version 4, not 3", current_version=4)},
    413: {"body-too-large": _problem("body-too-large", 413, "request bodies are limited to 1048576 bytes"),
          "evidence-too-large": _problem("evidence-too-large", 413, "evidence files are limited to 20971520 bytes; "
                                         "nothing was stored"),
          "ledger-too-large": _problem("ledger-too-large", 413, "ledger files are limited to 67108864 bytes; nothing "
                                       "was imported")},
    415: {"unsupported-media-type": _problem("unsupported-media-type", 415,
                                             "send the body as JSON with 'Content-Type: application/json'"),
          "evidence-type-refused": _problem("evidence-type-refused", 415,
                                            "the file's content is application/x-msdownload, which is not accepted as "
                                            "evidence (accepted: application/pdf, image/png, ...); nothing was stored",
                                            detected_type="application/x-msdownload")},
    422: {"validation-error": _problem("validation-error", 422, "title: Field required",
                                       errors=[{"loc": ["body", "title"], "msg": "Field required", "type": "missing"}]),
          "invalid-input": _problem("invalid-input", 422, "unit 'CITY-EDU' does not exist", field="unit"),
          "ledger-rows-invalid": _problem("invalid-input", 422, "row 12, column 责任单位: unit 'CITY-EDUC' does not "
                                          "exist; nothing was imported", field="file", error_count=1,
                                          errors=[{"row": 12, "column": "责任单位",
                                                   "detail": "unit 'CITY-EDUC' does not exist"}]),
          "guard-failed": _problem("guard-failed", 422, "'submit' requires evidence", guard="requires"),
          "unknown-trigger": _problem("unknown-trigger", 422, "'aprove' is not a trigger of workflow 'standard'",
                                      triggers=["assign", "accept", "submit", "approve", "reject", "close"])},
    423: {"integrity-violation": _problem("integrity-violation", 423, "the evidence file 9f86d081... is recorded but "
                                          "missing from the store; run `closeloop audit verify --with-evidence`")},
    429: {"too-many-requests": _problem("too-many-requests", 429, "too many bad tokens from this address; retry in 30 s",
                                        title="Too many requests")},
    431: {"headers-too-large": _problem("headers-too-large", 431, "request headers are limited to 16384 bytes",
                                        title="Request header fields too large")},
    503: {"busy": _problem("busy", 503, "the database is busy; nothing was changed, retry in 1 s"),
          "database-unavailable": _problem("database-unavailable", 503,
                                           "the database is unreachable; nothing was changed, retry in 5 s"),
          "not-ready": _problem("service-unavailable", 503,
                                "database schema is at 0002, the code needs 0003: run `closeloop migrate`")},
}


def problem(status: int, kind: str | None = None) -> dict:
    """The example problem of ``status``: the named ``kind``, or the usual one."""
    kinds = PROBLEMS[status]
    return kinds[kind] if kind else next(iter(kinds.values()))


# By operation id.
REQUESTS: dict[str, dict] = {
    "create_item": {"title": "公办幼儿园学位缺口未按计划补齐", "description": "巡察发现：2026年计划新增学位800个，实际完成520个。",
                    "source": "inspection", "severity": "high", "unit": "CITY-EDU", "due_date": "2027-03-31",
                    "workflow": "standard", "measures": "新建两所公办园，扩班12个", "assignee": "li.ming",
                    "external_ref": "XS-2026-017", "campaign": "2026-XC-R1", "tags": ["学前教育"]},
    "fire_transition": {"trigger": "submit", "comment": "已完成整改，附验收报告",
                        "evidence": [{"sha256": SHA, "stored": True},
                                     {"name": "现场照片.jpg", "sha256": PHOTO_SHA, "url": "https://pan.example.cn/s/1"}],
                        "fields": {}},
    "add_unit": {"code": "CITY-EDU", "name": "市教育局", "parent": "CITY"},
    "add_user": {"username": "li.ming", "roles": ["assignee"], "unit": "CITY-EDU", "display_name": "李明",
                 "email": "li.ming@edu.example.cn"},
    "create_webhook": {"url": "https://oapi.dingtalk.com/robot/send?access_token=TOKEN", "kind": "dingtalk",
                       "events": ["reminder.overdue", "escalation.issued"], "unit": "CITY-EDU",
                       "secret": "SEC0123456789abcdef"},
    # A multipart form: the part "file" carries the file's bytes and its name (filename="验收报告.pdf").
    "upload_evidence": {"file": "%PDF-1.7 ... (the bytes of 验收报告.pdf)"},
    # A multipart form: the part "file" carries the ledger (.xlsx or .csv) with the columns the export writes.
    "import_ledger": {"file": "PK... (the bytes of 整改台账.xlsx)"},
    "update_user": {"email": "li.ming@edu.example.cn", "display_name": "李明（市教委）"},
    "create_campaign": {"code": "2026-XC-R1", "name": "2026年第一轮巡察", "issued_by": "市委巡察办",
                        "issued_on": "2026-02-20"},
    "update_campaign": {"issued_by": "市委第一巡察组"},
    "create_lookback": {"percent": 10, "campaign": "2026-XC-R1", "seed": "2026-Q3-lookback-01"},
    "recheck_lookback_item": {"result": "failed", "note": "回头看发现：新增学位未实际投入使用，问题反弹"},
}
