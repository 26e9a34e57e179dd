"""Child process of the crash test (tests/test_ledger_crash.py): appends records from index
START on and reports each acknowledgement ("index seq" per line) on stdout, flushed, until
it is killed. Not a test module itself."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from byokvault.engine.ledger import Ledger
from byokvault.engine.ledger.synthetic import make_record


def main(db: str, start: int, chunk: int) -> None:
    with Ledger(Path(db)) as ledger:
        i = start
        while True:
            futures = [(n, ledger.submit(make_record(n))) for n in range(i, i + chunk)]
            acks = "".join(f"{n} {future.result().seq}\n" for n, future in futures)
            os.write(1, acks.encode())  # one write per chunk, after every ack in it
            i += chunk


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
