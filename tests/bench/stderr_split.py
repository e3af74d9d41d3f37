"""``python -X importtime stderr_split.py ARGS``: the real ``pos ARGS`` (or, with
``--bare``, the bare Textual app), with the import log apart from the screen.

Python writes ``-X importtime`` lines to file descriptor 2; Textual draws on
``sys.__stderr__``. Here fd 2 becomes the file ``$BENCH_IMPORT_LOG`` and
``sys.__stderr__`` a new stream on the terminal, before anything of the till
is imported; then ``pos_app.cli.main`` runs as the console script runs it.
"""

import os
import sys

terminal = os.dup(2)
log = os.open(os.environ["BENCH_IMPORT_LOG"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.dup2(log, 2)
os.close(log)
sys.stderr = sys.__stderr__ = open(terminal, "w", encoding="utf-8", errors="backslashreplace",  # noqa: SIM115
                                   closefd=True)

if sys.argv[1:] == ["--bare"]:
    import runpy

    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_app.py"), run_name="__main__")
    sys.exit(0)

from pos_app.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
