"""One path for every failure in background work.

Textual's ``Worker.StateChanged`` does not bubble: a worker's failure reaches
only the widget or screen that started it, and an app-level handler never
sees it. So every screen that starts workers mixes this in and hands the
failure to :meth:`PosApp.worker_failed`, which logs the traceback, tells the
cashier what happened, and lets reconciliation settle any provider operation
that was in flight. The screen then frees itself (``worker_error``): no
dialog stays on "please wait".
"""

from __future__ import annotations

from typing import Any, Protocol

from rich.text import Text
from textual.worker import Worker, WorkerState

from pos_app.i18n import _
from pos_app.journal import JournalError
from pos_app.providers.base import provider_says as says


class FailureSink(Protocol):
    def worker_failed(self, worker: Worker[Any], screen: Any) -> None: ...


def explain(error: BaseException) -> str:
    """What the cashier reads about an unexpected failure."""
    if isinstance(error, JournalError):  # says what is wrong and what to do (disk full, read-only)
        text = str(error)
        return text[:1].upper() + text[1:]
    return _("Unexpected error ({error}) — the journal has every step up to it; a provider operation that "
             "was under way is checked with the provider. If it repeats, restart the till.").format(
        error=type(error).__name__)


def provider_says(provider: str, message: str, style: str = "bold") -> Text:
    """A provider's own words (E-GUMA's are German) on a line of their own, labelled
    as its words in the providers' one wording (``E-GUMA says: «Gutschein ungültig»``);
    a message that already carries that label is shown as it is, not labelled twice."""
    message = message.strip()
    labelled = says(provider, "")
    if message.startswith(labelled[:labelled.index("«") + 1] if "«" in labelled else labelled):
        return Text(message, style=style)
    return Text(says(provider, message), style=style)


class ReportsWorkerErrors:
    """Mixed into every screen that runs workers."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            event.stop()
            app: Any = getattr(self, "app")
            app.worker_failed(event.worker, self)

    def worker_error(self, error: BaseException) -> None:
        """Free the screen after a failure in one of its workers (default: nothing to free)."""
