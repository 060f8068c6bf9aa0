"""The pages' words in Chinese (the default) and English; state and action names come from the workflow files."""
from __future__ import annotations

from starlette.requests import Request

LANGS = ("zh", "en")
COOKIE = "closeloop_lang"

WORDS: dict[str, tuple[str, str]] = {
    "app": ("整改闭环", "closeloop"),
    "home": ("首页", "Home"), "items": ("问题清单", "Items"), "new_item": ("登记问题", "Register an item"),
    "sign_in": ("登录", "Sign in"), "sign_out": ("退出", "Sign out"), "username": ("用户名", "Username"),
    "password": ("密码", "Password"), "signed_in_as": ("当前用户", "Signed in as"),
    "bad_sign_in": ("用户名或密码不正确", "The username or password is wrong"),
    "too_many": ("登录失败次数过多，请 {0} 秒后再试", "Too many failed sign-ins; try again in {0} s"),
    "language": ("语言", "Language"), "other_lang": ("English", "中文"),
    "welcome": ("欢迎，{0}", "Welcome, {0}"),
    "home_intro": ("在问题清单中查看和办理整改事项。", "See and act on rectification items in the item list."),
    "overdue_items": ("逾期事项（红灯）", "Overdue items (red)"), "all_items": ("全部事项", "All items"),
    "filters": ("筛选", "Filters"), "search": ("搜索", "Search"), "apply": ("查询", "Apply"),
    "any": ("不限", "Any"), "yes": ("是", "Yes"), "no": ("否", "No"),
    "next_page": ("下一页", "Next page"), "first_page": ("第一页", "First page"), "total": ("共 {0} 项", "{0} items"),
    "none_found": ("没有符合条件的事项", "No items match"),
    "number": ("编号", "Number"), "title": ("问题", "Title"), "description": ("问题描述", "Description"),
    "state": ("状态", "State"), "unit": ("责任单位", "Unit"), "assignee": ("责任人", "Assignee"),
    "due_date": ("整改时限", "Due date"), "deadline": ("当前期限", "Deadline"), "light": ("红黄绿灯", "Light"),
    "source": ("问题来源", "Source"), "severity": ("严重程度", "Severity"), "campaign": ("批次", "Campaign"),
    "external_ref": ("原始编号", "External ref"), "workflow": ("整改方式", "Workflow"),
    "measures": ("整改措施", "Measures"), "created_at": ("登记时间", "Registered"), "overdue": ("已逾期", "Overdue"),
    "due_before": ("时限早于", "Due before"), "due_after": ("时限晚于", "Due after"),
    "q": ("关键词", "Keywords"),
    "light_red": ("红灯", "Red"), "light_yellow": ("黄灯", "Yellow"), "light_green": ("绿灯", "Green"),
    "light_none": ("无期限", "No deadline"), "overdue_days": ("逾期 {0} 天", "{0} days overdue"),
    "actions": ("可办理的操作", "What you can do now"), "no_actions": ("您当前没有可办理的操作。",
                                                                   "There is nothing for you to do on this item now."),
    "comment": ("说明", "Comment"), "required": ("（必填）", " (required)"),
    "new_due_date": ("申请延至", "New due date"), "transfer_unit": ("转至单位", "Transfer to unit"),
    "evidence": ("佐证材料", "Evidence"), "upload": ("上传", "Upload"), "file": ("文件", "File"),
    "no_evidence": ("尚未上传佐证材料", "No evidence uploaded yet"), "size": ("大小", "Size"),
    "uploaded": ("已上传：{0}，SHA-256 {1}", "Uploaded: {0}, SHA-256 {1}"),
    "use_evidence": ("随本次操作提交的佐证材料", "Evidence sent with this action"),
    "timeline": ("办理记录", "Timeline"), "when": ("时间", "When"), "who": ("办理人", "Who"),
    "step": ("操作", "Step"), "hash": ("哈希", "Hash"), "created": ("登记", "Registered"),
    "chain_ok": ("✓ 记录链校验通过（{0} 条记录）", "✓ History chain intact ({0} records)"),
    "chain_bad": ("✗ 记录链校验未通过：第 {0} 条记录，{1}", "✗ History chain broken at record {0}: {1}"),
    "chain_missing": ("该记录缺失", "it is missing"),
    "chain_link": ("与上一条记录的链接不符", "it does not link to the record before it"),
    "chain_hash": ("内容与其哈希不符", "its content does not match its hash"),
    "chain_head": ("事项记载的链头与最后一条记录不符", "the item names another chain head than its last record"),
    "refused": ("操作未执行：{0}", "Not done: {0}"), "done": ("已办理：{0}", "Done: {0}"),
    "stale": ("该事项已被他人更新，请查看最新状态后重试。",
              "Someone else changed this item meanwhile: look at it again and retry."),
    "not_found": ("未找到该事项，或您无权查看。", "No such item, or it is not yours to see."),
    "forbidden": ("请求被拒绝：表单已过期或缺少安全令牌，请返回重新操作。",
                  "Refused: the form has expired or lacks its security token; go back and try again."),
    "may_not_register": ("您的角色不能登记问题：登记须由登记人员、督办人员或管理员进行。",
                         "Your roles do not register items: a registrar, a supervisor or an admin does."),
    "unreadable_form": ("表单无法读取：内容不完整，或字段、文件超过了表单所有的数量。请返回重新提交。",
                        "The form could not be read: it arrived broken, or with more fields or files than the form "
                        "has. Go back and send it again."),
    "back": ("返回", "Back"), "register": ("登记", "Register"), "save": ("提交", "Submit"),
    "sources": ("巡视巡察,审计,督查督办,群众反映,自查自纠,其他", "Inspection,Audit,Supervision,Complaint,Self-check,Other"),
    "severities": ("低,中,高,严重", "Low,Medium,High,Critical"),
}

# The dashboard, the workflow pages and the printable 销号 form.
WORDS.update({
    "dashboard": ("工作台", "Dashboard"), "by_state": ("各状态事项", "Items by state"),
    "lights": ("红黄绿灯", "Traffic lights"), "count": ("数量", "Count"),
    "by_unit": ("各单位情况", "By unit"), "closure_chart": ("各单位销号率", "Closure rate by unit"),
    "closure_rate": ("销号率", "Closure rate"), "overdue_rate": ("逾期率", "Overdue rate"),
    "n_total": ("事项数", "Items"), "n_open": ("未办结", "Open"), "n_closed": ("已销号", "Closed"),
    "n_overdue": ("逾期", "Overdue"), "no_items": ("您的范围内还没有事项。", "There are no items in your scope yet."),
    "escalations": ("未解除的督办", "Open escalations"), "level": ("等级", "Level"),
    "level_blue": ("蓝色督办", "Blue notice"), "level_orange": ("橙色督办", "Orange notice"),
    "level_red": ("红色督办", "Red notice"),
    "my_actions": ("待我办理", "Needs my action now"),
    "my_actions_none": ("目前没有待您办理的事项。", "Nothing needs your action now."),
    "my_actions_more": ("在问题清单中查看更多", "See more in the item list"),
    "can_do": ("可办理", "You can"),
    "workflows": ("整改流程", "Workflows"), "workflow_intro": ("每种整改方式的状态与流转。",
                                                        "The states and transitions of each kind of rectification."),
    "diagram": ("流程图", "Diagram"), "states": ("状态", "States"), "transitions": ("流转", "Transitions"),
    "name": ("名称", "Name"), "version": ("版本", "Version"), "from_state": ("从", "From"), "to_state": ("至", "To"),
    "roles": ("办理角色", "Roles"), "requires": ("必须提供", "Requires"), "guards": ("前提条件", "Guards"),
    "effects": ("附带效果", "Effects"), "due": ("期限", "Due"), "kind_of_state": ("类型", "Kind"),
    "initial_state": ("起始", "Initial"), "final_state": ("终结", "Final"), "clock_paused": ("计时暂停", "Clock paused"),
    "reminders": ("催办", "Reminders"), "escalation": ("督办", "Escalation"),
    "due_within": ("进入后 {0}", "{0} after entering"), "due_field": ("按整改时限", "The item's due date"),
    "due_every": ("每 {0} 报告一次", "A report every {0}"),
    "before_deadline": ("到期前 {0}", "{0} before the deadline"), "overdue_every": ("逾期后每 {0}", "Every {0} overdue"),
    "after_overdue": ("逾期 {0} 后", "{0} overdue"),
    "dur_days": ("{0} 天", "{0} days"), "dur_working_days": ("{0} 个工作日", "{0} working days"),
    "dur_months": ("{0} 个月", "{0} months"),
    "role_registrar": ("登记人员", "Registrar"), "role_supervisor": ("督办人员", "Supervisor"),
    "role_assignee": ("责任人", "Assignee"), "role_verifier": ("验收人员", "Verifier"),
    "role_auditor": ("审计人员", "Auditor"), "role_admin": ("管理员", "Admin"),
    "no_workflow": ("没有这个整改流程。", "No such workflow."),
    "closure_form": ("整改销号表", "Rectification sign-off form"), "print_form": ("打印整改销号表", "Print the sign-off form"),
    "print": ("打印", "Print"), "found": ("发现的问题", "What was found"), "measures_taken": ("整改措施", "Measures taken"),
    "progress": ("整改过程", "How it was fixed"), "verification": ("验收与销号", "Verification and sign-off"),
    "verified_by": ("验收人", "Verified by"), "signed_off_by": ("销号人", "Signed off by"), "at": ("时间", "At"),
    "chain_head": ("记录链头（SHA-256）", "Chain head (SHA-256)"), "closed_at": ("销号时间", "Closed"),
    "not_closed": ("事项 {0} 尚未销号（当前状态：{1}），销号表在销号后才能打印。",
                   "Item {0} is not closed (it is {1}): its sign-off form can be printed once it is closed."),
    "printed_at": ("打印时间", "Printed"),
})


# The reminder inbox, the ledger pages and the list's batch actions.
WORDS.update({
    "inbox": ("提醒", "Reminders"), "unread": ("未读", "Unread"),
    "unread_count": ("未读 {0} 条", "{0} unread"), "unread_nav": ("{0} 条未读", "{0} unread"),
    "show_all": ("显示全部", "Show all"), "show_unread": ("只看未读", "Unread only"),
    "mark_read": ("标为已读", "Mark read"), "mark_read_of": ("标为已读：{0}", "Mark read: {0}"),
    "mark_all_read": ("全部标为已读", "Mark all read"), "read_at": ("已读于 {0}", "read {0}"),
    "inbox_empty": ("没有提醒。", "No reminders."),
    "reminder_due_soon": ("即将到期提醒", "Due soon"), "reminder_overdue": ("逾期提醒", "Overdue"),
    "escalation_blue": ("蓝色督办", "Blue escalation"), "escalation_orange": ("橙色督办", "Orange escalation"),
    "escalation_red": ("红色督办", "Red escalation"),
    "item_notices": ("提醒与督办", "Reminders and escalations"), "no_notices": ("尚无提醒或督办。",
                                                                    "No reminders or escalations yet."),
    "notice_kind": ("类型", "Kind"), "recipients": ("接收人", "Recipients"), "delivery": ("推送", "Delivery"),
    "superseded": ("已被更高级别取代", "superseded by a higher level"),
    "delivery_queued": ("排队中", "Queued"), "delivery_none": ("无推送渠道", "No channel"),
    "delivery_sending": ("发送中", "Sending"), "delivery_failed": ("发送失败", "Failed"),
    "delivery_delivered": ("已送达", "Delivered"),
    "ledger": ("台账", "Ledger"), "ledger_download": ("下载台账", "Download the ledger"),
    "ledger_intro": ("按下列条件导出您可查看的事项（与问题清单的筛选相同）。",
                     "The items you may see, filtered as in the item list."),
    "download_xlsx": ("下载 Excel（.xlsx）", "Download Excel (.xlsx)"), "download_csv": ("下载 CSV", "Download CSV"),
    "as_of": ("截至日期（留空为当前）", "As of (blank: now)"),
    "ledger_upload": ("导入台账", "Import a ledger"),
    "ledger_upload_intro": ("上传 .xlsx 或 .csv 台账。任何一行有错误时，不导入任何事项，并列出每行错误。",
                            "Upload an .xlsx or .csv ledger. If any row is wrong nothing is imported, and each "
                            "wrong row is listed."),
    "ledger_file": ("台账文件（.xlsx 或 .csv）", "Ledger file (.xlsx or .csv)"),
    "dry_run": ("仅检查，不导入", "Check only, import nothing"), "import": ("导入", "Import"),
    "import_done": ("已导入：新增 {0} 项，已存在（未改动）{1} 项。", "Imported: {0} new, {1} already here (unchanged)."),
    "import_checked": ("检查通过，未导入：将新增 {0} 项，已存在 {1} 项。",
                       "Checked, nothing imported: {0} would be new, {1} are already here."),
    "import_rejected": ("台账有 {0} 处错误，未导入任何事项。", "The ledger has {0} errors: nothing was imported."),
    "import_more": ("另有 {0} 处错误未列出。", "{0} more errors are not listed."),
    "import_differing": ("其中 {0} 行与已有事项不一致。导入不修改已有事项，这些改动未生效：请在事项中按流程办理。",
                         "{0} of them differ from their item. An import never changes an item, so these edits were "
                         "not applied: move the item through its workflow."),
    "import_differing_more": ("另有 {0} 行不一致未在此列出；命令 closeloop import --dry-run 和接口的答复列出前 100 行。",
                              "{0} more differing rows are not listed here; closeloop import --dry-run and the API's "
                              "answer list the first 100."),
    "differing_columns": ("不一致的列", "Columns that differ"),
    "row": ("行", "Row"), "column": ("列", "Column"), "problem": ("问题", "Problem"),
    "import_roles": ("登记员、督办人员和管理员可导入台账。", "Registrars, supervisors and admins import ledgers."),
    "batch": ("批量办理", "Batch actions"), "select_item": ("选择 {0}", "Select {0}"),
    "batch_action": ("操作", "Action"), "batch_assign": ("交办所选事项", "Assign the selected items"),
    "batch_close": ("销号所选事项（已验收的）", "Close the selected (verified) items"),
    "batch_unit_keep": ("各事项原责任单位", "Each item's own unit"), "batch_go": ("办理所选事项", "Act on the selected items"),
    "batch_note": ("所选事项逐一单独办理：某一事项未能办理，不影响其他事项，也不撤销已办理的事项。",
                   "Each selected item is acted on by itself: one that is refused does not stop the others or "
                   "undo those done."),
    "batch_result": ("批量办理结果", "Batch result"), "batch_summary": ("{0} 项已办理，{1} 项未办理。",
                                                                 "{0} done, {1} not done."),
    "batch_done": ("已办理", "Done"), "batch_none": ("请至少选择一个事项。", "Select at least one item."),
    "batch_bad_action": ("请选择要办理的操作。", "Choose an action."),
    "back_to_list": ("返回问题清单", "Back to the item list"), "outcome": ("结果", "Outcome"),
})

def language(request: Request) -> str:
    """The language asked for by ?lang=, else the cookie, else Chinese."""
    asked = request.query_params.get("lang") or request.cookies.get(COOKIE)
    return asked if asked in LANGS else "zh"


def translator(lang: str):
    """A function giving a word in ``lang``, formatted with any arguments."""
    index = LANGS.index(lang)

    def t(key: str, *args: object) -> str:
        text = WORDS[key][index]
        return text.format(*args) if args else text

    return t


def title_of(title, name: str, lang: str) -> str:
    """A workflow title (zh/en) in ``lang``, or the identifier when the file gives none."""
    if title is None:
        return name
    return title.zh if lang == "zh" else title.en


def choices(key: str, values: tuple[str, ...], lang: str) -> list[tuple[str, str]]:
    """Pairs of (value, label) for an enumeration whose labels are listed under ``key``."""
    labels = WORDS[key][LANGS.index(lang)].split(",")
    return list(zip(values, labels))


def state_titles(registry, lang: str) -> dict[str, str]:
    """Every known state's title in ``lang`` (from the current version of the first workflow naming it)."""
    titles: dict[str, str] = {}
    for name in registry.names():
        for state in registry.current(name).definition.states:
            titles.setdefault(state.name, title_of(state.title, state.name, lang))
    for state in registry.known_states():
        titles.setdefault(state, state)
    return titles


def duration(value, lang: str) -> str:
    """A workflow duration in words (3 个工作日, 3 working days)."""
    if lang == "en":
        return str(value)
    return translator(lang)(f"dur_{value.unit}", value.amount)


def trigger_title(definition, trigger: str, lang: str) -> str:
    """An action's title in ``lang``, from the workflow file ('create' is the registration)."""
    if trigger == "create":
        return translator(lang)("created")
    for transition in definition.transitions:
        if transition.trigger == trigger:
            return title_of(transition.title, trigger, lang)
    return trigger
