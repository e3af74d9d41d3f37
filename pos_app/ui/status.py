"""F12: the status screen — provider, printer and keyring health, unresolved
provider operations, unprinted receipts; retry reconciliation, reload keys."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pos_app import secrets
from pos_app.i18n import N_, _, ngettext
from pos_app.ui.errors import ReportsWorkerErrors, explain
from pos_app.ui.plain import Plain
from pos_app.services import journaled, wording
from pos_app.services.checkout import Till
from pos_app.services.journal_server import server_state


def dot(ok: bool | None) -> tuple[str, str]:
    return ("●", "green") if ok else (("●", "red") if ok is False else ("●", "grey50"))


class StatusScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", N_("Back")),
        Binding("r", "retry", N_("Retry unresolved")),
        Binding("k", "reload_keys", N_("Reload keys")),
        Binding("d", "open_drawer", N_("Open drawer")),
    ]

    def __init__(self, till: Till) -> None:
        super().__init__(classes="dialog-screen")
        self.till = till
        self.keyring_info = _("checking…")
        self._note = ""  # the last action's result: kept when the keyring's answer redraws

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog status") as box:
            box.border_title = _("Status")
            with VerticalScroll(id="report-scroll"):  # the keys below stay in sight
                yield Plain(id="report")
            yield Plain("", id="error", classes="error")
            yield Plain(_("r retry unresolved · k reload keys · d open drawer (no sale) · Escape back"),
                        classes="keys")

    def on_mount(self) -> None:
        self.render_report()
        self.read_keyring()

    @work(thread=True, exclusive=True, group="keyring", exit_on_error=False)
    def read_keyring(self) -> None:
        """Ask the keyring in a thread: a locked Secret Service must not freeze the screen."""
        try:
            secrets.check_backend(allow_insecure=self.till.config.keyring.allow_insecure)
            info = secrets.backend_name()
            warning = secrets.insecure_backend_warning()
        except secrets.SecretsError as exc:
            info, warning = _("not usable — {error}").format(error=exc), None
        self.keyring_info = info + (f"\n  ! {warning}" if warning else "")
        self.app.call_from_thread(self.render_report)

    def render_report(self, note: str | None = None) -> None:
        """Draw the report; ``note`` replaces the last action's result (None keeps it)."""
        if note is not None:
            self._note = note
        note = self._note
        till = self.till
        t = Text()
        cfg = till.config
        t.append(_("{name} · outlet {outlet} · till {till}").format(
            name=cfg.outlet.name, outlet=cfg.outlet.id, till=cfg.outlet.till) + "\n", style="bold")
        t.append("\n" + _("Providers") + "\n", style="bold underline")
        if not till.providers:
            t.append("  " + _("none configured") + "\n")
        for slot in till.providers.values():
            symbol, colour = dot(False if slot.problem else slot.healthy)
            t.append("  ")
            t.append(symbol, style=colour)
            where = _("built-in simulator") if slot.simulator is not None else _("live")
            t.append(f" {slot.display_name} ({where})")
            if slot.problem:
                t.append(f" — {slot.problem}", style="red")
            elif slot.last_error:
                t.append(" — " + _("last call failed: {error}").format(error=slot.last_error), style="red")
            elif slot.healthy:
                t.append(" — " + _("answering"))
            else:
                t.append(" — " + _("not asked yet"))
            t.append("\n")
        t.append("\n" + _("Printer") + "\n", style="bold underline")
        symbol, colour = dot(till.printer_ok)
        t.append("  ")
        t.append(symbol, style=colour)
        t.append(f" {till.printer.description}")
        if till.printer_ok is False:
            t.append(f" — {till.printer_message}", style="red")
        t.append("\n")
        unprinted = till.journal.unprinted_receipts()
        if unprinted:
            count = len(unprinted)
            t.append("  " + ngettext("{count} receipt not printed — F7 prints it",
                                     "{count} receipts not printed — F7 prints them", count).format(count=count)
                     + "\n", style="yellow")
        t.append("\n" + _("Unresolved provider operations") + "\n", style="bold underline")
        ops = till.recovery.open_ops()
        if not ops:
            t.append("  " + _("none") + "\n")
        for op in ops:
            sent = datetime.fromisoformat(op.sent_at).astimezone()
            t.append("  ? " + _("{what} ({where}, sent {time}, our reference {reference})").format(
                what=wording.what(till.session, op), where=till.session.where(op.order_id),
                time=f"{sent:%H:%M:%S}", reference=op.reference), style="red")
            if op.error:
                t.append(f" — {op.error}", style="red")
            deadline = journaled.deadline(till.session, op).astimezone()
            t.append("\n    " + _("not decided \"did not happen\" before {time}; the till checks again by itself; "
                                "the voucher cannot be used until it is decided").format(time=f"{deadline:%H:%M:%S}")
                     + "\n", style="red")
        flagged = till.recovery.flagged()
        if flagged:
            t.append("\n" + _("Contradictions (check with the provider)") + "\n", style="bold underline")
        for op in flagged:
            t.append("  ! " + _("{what} ({where}, our reference {reference}): {flag}").format(
                what=wording.what(till.session, op), where=till.session.where(op.order_id),
                reference=op.reference, flag=op.flag) + "\n", style="bold red")
        t.append("\n" + _("Keyring") + "\n", style="bold underline")
        t.append(f"  {self.keyring_info}\n", style="yellow" if "!" in self.keyring_info else "")
        t.append("\n" + _("Journal") + "\n", style="bold underline")
        t.append(f"  {till.journal.path}\n")
        server = server_state(till.journal, cfg.journal.url, count=True)
        if server is not None:
            symbol, colour = dot(False if server.conflict else server.online)
            t.append("  ")
            t.append(symbol, style=colour)
            if server.conflict:
                t.append(" " + _("server {url}: forwarding stopped — {problem}. The till keeps selling on its own "
                                 "journal; call support.").format(url=server.url, problem=server.conflict) + "\n",
                         style="bold red")
            elif server.online:
                t.append(" " + _("server {url}: online").format(url=server.url))
                if server.backlog:
                    t.append(" — " + ngettext("{count} change being forwarded", "{count} changes being forwarded",
                                              server.backlog).format(count=server.backlog))
                t.append("\n")
            else:
                t.append(" " + _("server {url}: OFFLINE — selling on this till's own journal; {count} changes "
                                 "are forwarded when the server is back").format(
                                     url=server.url, count=server.backlog or 0), style="red")
                if server.error:
                    t.append(f" ({server.error})", style="red")
                t.append("\n")
        if note:
            t.append(f"\n{note}\n", style="bold")
        self.query_one("#report", Static).update(t)

    def worker_error(self, error: BaseException) -> None:
        self.render_report(explain(error))

    def action_retry(self) -> None:
        self.render_report(_("Checking with the providers…"))
        self.retry()

    @work(exclusive=True, group="status-retry", exit_on_error=False)
    async def retry(self) -> None:
        results = await self.till.recovery.run()
        lines = [r.text for r in results] or [_("Nothing to settle.")]
        self.render_report("\n".join(lines))

    def action_open_drawer(self) -> None:
        self.open_drawer()

    @work(exclusive=True, group="drawer", exit_on_error=False)
    async def open_drawer(self) -> None:
        notice = await self.till.open_drawer("no_sale")
        self.render_report(notice.text)

    def action_reload_keys(self) -> None:
        self.render_report(_("Reloading keys…"))
        self.reload_keys()

    @work(exclusive=True, group="status-keys", exit_on_error=False)
    async def reload_keys(self) -> None:
        self.render_report(await self.till.reload_providers())
