"""Evidence files: upload speed, and the memory and speed of a bundle that carries them.

Prints, from one run on this machine (SQLite, as `make run` uses it):
  upload    POST /items/{id}/evidence of files at the size limit (20 MB), in-process: MB/s
  export    `closeloop audit export --with-evidence` as a separate process: seconds and peak resident memory,
            beside the same export without the files (constant memory: the two peaks are close)
  verify    `closeloop audit verify BUNDLE --with-evidence` and tools/verify_bundle.py: MB/s of evidence
Run: make bench-evidence   (or .venv/bin/python bench/evidence.py [--files N] [--mb M])
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# bench/transitions.py shares its name with the `transitions` library: keep this folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from bench.child import run_measured  # noqa: E402
from bench.figures import Figure, report  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store.migrate import migrate  # noqa: E402
from tests.audit_helpers import STANDALONE  # noqa: E402
from tests.helpers import build_world, drive, fire, new_item  # noqa: E402

CLOSELOOP = Path(sys.executable).parent / "closeloop"
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="closeloop-bench-evidence-"))
    db = folder / "closeloop.db"
    migrate(Store(f"sqlite:///{db}"))
    settings = Settings(database_url=f"sqlite:///{db}", evidence_max_bytes=args.mb * 1024 * 1024)
    rt = Runtime.open(settings)
    world = build_world(rt)
    size = args.mb * 1024 * 1024
    uploaded, seconds = 0, 0.0
    with TestClient(create_app(rt)) as client:
        for n in range(args.files):
            item = drive(client, world, rt, new_item(client, world, due_date="2099-12-31"), "rectifying")
            content = b"%PDF-1.7\n" + os.urandom(size - 9)
            started = time.perf_counter()
            response = client.post(f"/api/v1/items/{item['id']}/evidence", files={"file": (f"报告{n}.pdf", content)},
                                   headers=world.h("asg_a"))
            seconds += time.perf_counter() - started
            assert response.status_code == 201, response.text
            uploaded += size
            body = {"trigger": "submit", "evidence": [{"sha256": response.json()["sha256"], "stored": True}]}
            assert fire(client, world, item, body, "asg_a").status_code == 200
    rt.store.dispose()
    mb = uploaded / 1024 / 1024
    print(f"upload    {args.files} files of {args.mb} MB: {mb / seconds:.0f} MB/s ({seconds:.1f} s)")
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": f"sqlite:///{db}", "CLOSELOOP_AUDIT_KEY_DIR": str(folder / "k")}
    plain = run_measured([str(CLOSELOOP), "audit", "export", str(folder / "plain.zip")], env)
    bundled = run_measured([str(CLOSELOOP), "audit", "export", str(folder / "b.zip"), "--with-evidence"], env)
    print(f"export    with {mb:.0f} MB of evidence: {bundled.wall:.1f} s, peak {bundled.peak_mb:.0f} MB resident "
          f"(without the files: {plain.wall:.1f} s, peak {plain.peak_mb:.0f} MB)")
    ours_s = run_measured([str(CLOSELOOP), "audit", "verify", str(folder / "b.zip"), "--with-evidence"], env).wall
    theirs_s = run_measured([sys.executable, str(STANDALONE), str(folder / "b.zip"), "--with-evidence"], env).wall
    print(f"verify    closeloop audit verify: {mb / ours_s:.0f} MB/s; tools/verify_bundle.py: {mb / theirs_s:.0f} MB/s")
    report(Figure(f"evidence upload, {args.mb} MB files", mb / seconds, "MB/s"),
           Figure(f"audit export peak with {mb:.0f} MB of evidence / without", bundled.peak_mb / plain.peak_mb, "x",
                  target=1.2, better="lower", reference="the same export without the files"))
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
