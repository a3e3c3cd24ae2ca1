"""The notifier: drains the outbox to Telegram within the flood limits, at least once.

Loop: lease due rows (`delivery.claim`: the oldest row of each chat, one in flight per chat),
send each in its own task, then mark it sent / retry / failed / unreachable. Pacing is ours,
not PTB's `AIORateLimiter`, so per-chat limits hold too:

* overall: evenly spaced slots, `[delivery] global_per_second` (29/s under Telegram's ~30/s);
* per chat: a token bucket of `per_chat_per_second` with a burst of `CHAT_BURST`;
* 429: that chat (and only it) waits `retry_after`, the row is re-queued for then without
  counting an attempt; 429s from several chats at once pause everyone for `retry_after`;
* 5xx, timeouts, network errors: retry with exponential backoff, the row stays queued; after
  three failures in a row everyone pauses (growing, capped), so an outage does not burn attempts;
* 403 (blocked, never started) and "chat not found": the account becomes unreachable;
* other 400s: permanent failure, kept with its error for `expertpanel outbox`.

Live messages (core.outbox threads, e.g. a panel's status in the unit's chat) are edited in
place: `plan_delivery` picks the newest of the message last sent for the row's thread and the
renderer's `edit` target in that chat; older ones are deleted (best effort). A failed edit (message
deleted, too old: 400) falls back to sending a new message, whose id the row records for next
time; "message is not modified" counts as delivered. A row that a newer row of its thread
supersedes is skipped (the newer one renders fresh counts anyway).

Rows that change the recipient's roles (`ROLE_CHANGES`, e.g. an approved application) also
refresh that chat's command menu once delivered.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, InputFile, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot import menus
from bot.http import QueuedHTTPXRequest
from bot.outbox_render import Rendered, render
from bot.pacing import CHAT_BURST, Pacer, retry_after_seconds
from bot.render import TELEGRAM_LIMIT, split_message
from core import outbox
from core.bootstrap import Core
from core.services import delivery
from core.services.delivery import Claimed

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
ROLE_CHANGES = frozenset({"application_approved"})  # kinds after which the chat's command menu changes


@dataclass(frozen=True)
class Plan:
    """How to deliver one rendered row to a chat: edit message `edit` or (None) send a new one;
    `stale` are older live messages of the same thread there, deleted afterwards. The `*_forget`
    flags say whether the edit target / a stale one is the renderer's `edit` message, which the
    renderer is told to forget (`Rendered.forget`) if it is gone or superseded."""

    edit: int | None = None
    stale: tuple[int, ...] = ()
    edit_forget: bool = False
    stale_forget: bool = False


def plan_delivery(chat_id: int, rendered: Rendered, previous: int | None) -> Plan:
    """Edit the newest known live message in this chat (the thread's last sent one, `previous`,
    or the renderer's `edit` target if it is in this chat); the others are stale. Documents and
    texts longer than one message are always sent anew."""
    candidates: dict[int, bool] = {}  # message id -> it is the renderer's target
    if previous is not None:
        candidates[previous] = False
    if rendered.edit is not None and rendered.edit[0] == chat_id:
        candidates[rendered.edit[1]] = True
    editable = rendered.document is None and bool(rendered.text) and len(rendered.text) <= TELEGRAM_LIMIT
    if not candidates or not editable:
        return Plan()
    newest = max(candidates)  # message ids grow within a chat
    stale = tuple(sorted(m for m in candidates if m != newest))
    return Plan(newest, stale, candidates[newest], any(candidates[m] for m in stale))


@dataclass
class NotifierStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    flood_429: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def make_bot(core: Core, *, base_url: str | None = None, base_file_url: str | None = None,
             token: str | None = None, pool_size: int = 32) -> Bot:
    """A plain `telegram.Bot` for the notifier (no AIORateLimiter: the notifier paces itself)."""
    tg = core.settings.telegram
    if token is None:
        if tg.token is None:
            from core.errors import DomainError

            raise DomainError("telegram.no_token")
        token = tg.token.get_secret_value()
    return Bot(token, base_url=base_url or tg.base_url, base_file_url=base_file_url or tg.base_file_url,
               request=QueuedHTTPXRequest(pool_size))


class Notifier:
    """`await start()` / `await stop()`, or `await run()` until `stop()` is called."""

    def __init__(self, core: Core, bot: Bot, *, max_in_flight: int | None = None, poll_interval: float = 0.2,
                 chat_burst: int = CHAT_BURST) -> None:
        ds = core.settings.delivery
        self.core, self.bot = core, bot
        self.pacer = Pacer(ds.global_per_second, ds.per_chat_per_second, chat_burst)
        self.max_in_flight = max_in_flight or max(4, int(ds.global_per_second * 2))
        self.min_batch = max(1, self.max_in_flight // 4)
        self.poll_interval = poll_interval
        self.lease_seconds = ds.lease_seconds
        self.stats = NotifierStats()
        self._failures = 0  # consecutive send failures of any chat: Telegram or the network is down
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="notifier")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; let messages in flight finish (then cancel: their leases expire)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    def wake(self) -> None:
        """Look at the outbox now (e.g. right after a handler queued something)."""
        self._wake.set()

    async def run(self) -> None:
        import bot.app  # noqa: F401  (registers every handler module's renderers)
        import bot.handlers.reminders  # noqa: F401

        loop = asyncio.get_running_loop()
        last_renew = loop.time()
        last_claim = float("-inf")
        try:
            while not self._stopping:
                self._wake.clear()  # a completion from here on wakes the wait below
                free = self.max_in_flight - len(self._in_flight)
                claimed: list[Claimed] = []
                # Claim in batches while busy (fewer transactions), at once when idle.
                if free > 0 and (free >= self.min_batch or not self._in_flight
                                 or loop.time() - last_claim >= self.poll_interval):
                    last_claim = loop.time()
                    try:
                        claimed = await delivery.claim(self.core.uow(), free, lease_seconds=self.lease_seconds)
                    except Exception:  # the database is away: try again in a moment
                        log.exception("notifier: claim failed; retrying shortly")
                        self.stats.error("claim")
                        await asyncio.sleep(1.0)
                for item in claimed:
                    if item.id not in self._in_flight:
                        task = asyncio.create_task(self._deliver(item), name=f"outbox-{item.id}")
                        self._in_flight[item.id] = task
                if self._in_flight and loop.time() - last_renew > self.lease_seconds / 3:
                    last_renew = loop.time()
                    try:
                        await delivery.renew(self.core.uow(), list(self._in_flight), lease_seconds=self.lease_seconds)
                    except Exception:
                        log.exception("notifier: lease renewal failed")
                if claimed and len(claimed) == free:
                    continue  # more may be due: claim again as soon as a slot frees up
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except asyncio.TimeoutError:
                    pass
            if self._in_flight:
                await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        finally:
            for task in self._in_flight.values():
                task.cancel()

    # --- one message -------------------------------------------------------------------------
    async def _deliver(self, item: Claimed) -> None:
        try:
            await self._deliver_inner(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # bookkeeping failed (e.g. the database is gone): the lease expires, it is retried
            log.exception("notifier: outbox %s: bookkeeping failed", item.id)
            self.stats.error("bookkeeping")
        finally:
            self._in_flight.pop(item.id, None)
            self._wake.set()

    async def _deliver_inner(self, item: Claimed) -> None:
        core = self.core
        if item.unreachable:
            await delivery.mark_unreachable(core.uow(), item.account_id, "account unreachable", outbox_id=item.id)
            self.stats.skipped += 1
            return
        lang = item.language or core.settings.default_language
        previous: int | None = None
        try:
            if outbox.thread_of(item.kind, item.params) is not None:
                state = await outbox.thread_state(core.uow(), item.id)
                if state.superseded:  # a newer row of this live message follows: it shows fresher data
                    await delivery.mark_skipped(core.uow(), item.id, "superseded")
                    self.stats.skipped += 1
                    return
                previous = state.previous_message_id
            rendered = await render(core, item.kind, item.params, lang)
        except SQLAlchemyError as exc:
            await self._retry(item, exc, "render")
            return
        except Exception as exc:  # a bug or bad params: keep it as a dead letter with the reason
            log.exception("notifier: cannot render outbox %s (%s)", item.id, item.kind)
            await delivery.mark_failed(core.uow(), item.id, f"render: {type(exc).__name__}: {exc}")
            self.stats.failed += 1
            return
        if rendered.skip or not (rendered.text or rendered.document):
            await delivery.mark_skipped(core.uow(), item.id, "obsolete")
            self.stats.skipped += 1
            return
        try:
            message_id = await self._deliver_live(item.telegram_id, rendered,
                                                  plan_delivery(item.telegram_id, rendered, previous))
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            self.stats.flood_429 += 1
            if self.pacer.flooded(item.telegram_id, seconds):
                log.warning("notifier: 429 from several chats; everyone waits %.0f s", seconds)
            await delivery.mark_retry(core.uow(), item.id, seconds, f"429 retry_after={seconds:g}", count_attempt=False)
            self.stats.retried += 1
            return
        except Forbidden as exc:
            await self._unreachable(item, exc)
            return
        except BadRequest as exc:
            text = str(exc)
            if "not modified" in text:
                message_id = None  # identical content: already there
            elif "chat not found" in text.lower():
                await self._unreachable(item, exc)
                return
            else:
                await delivery.mark_failed(core.uow(), item.id, f"400: {text}")
                self.stats.failed += 1
                return
        except InvalidToken as exc:  # a configuration problem, not this message's: it keeps its attempts
            log.error("notifier: Telegram rejects the token (%s); pausing", exc)
            self._failed_send()
            await delivery.mark_retry(core.uow(), item.id, 60.0, f"InvalidToken: {exc}", count_attempt=False)
            self.stats.retried += 1
            return
        except TelegramError as exc:  # 5xx, timeouts, connection errors (NetworkError) and the rest
            self._failed_send()
            await self._retry(item, exc, type(exc).__name__)
            return
        self._failures = 0
        await delivery.mark_sent(core.uow(), item.id, message_id)
        self.stats.sent += 1
        if item.kind in ROLE_CHANGES:
            await self._refresh_menu(item, lang)

    async def _refresh_menu(self, item: Claimed, lang: str) -> None:
        """The recipient's roles changed (e.g. the application was approved): their command menu
        follows. Best effort — a failure is logged, the next `run` start sets every menu again."""
        try:
            roles = await outbox.recipient_roles(self.core.uow(), item.account_id)
        except SQLAlchemyError:
            log.exception("notifier: cannot read the roles of account %s for its menu", item.account_id)
            return
        if roles is not None:
            await menus.set_chat_menu(self.bot, item.telegram_id, roles, roles.language or lang)

    def _failed_send(self) -> None:
        """After a few failures in a row, everyone waits (growing, capped): a Telegram outage
        must not burn every queued message's attempts within minutes."""
        self._failures += 1
        if self._failures >= 3:
            ds = self.core.settings.delivery
            self.pacer.pause_all(min(ds.backoff_max_seconds, ds.backoff_base_seconds * 2 ** (self._failures - 3)))

    async def _retry(self, item: Claimed, exc: Exception, what: str) -> None:
        self.stats.error(what)
        delay = delivery.backoff_seconds(self.core.uow(), item.attempts)
        status = await delivery.mark_retry(self.core.uow(), item.id, delay, f"{type(exc).__name__}: {exc}")
        if status == "failed":
            self.stats.failed += 1
        else:
            self.stats.retried += 1

    async def _unreachable(self, item: Claimed, exc: Exception) -> None:
        self.stats.unreachable += 1
        await delivery.mark_unreachable(self.core.uow(), item.account_id, str(exc), outbox_id=item.id)

    async def _deliver_live(self, chat_id: int, rendered: Rendered, plan: Plan) -> int | None:
        """Edit the planned message, or send; then drop stale copies. Returns the message id shown."""
        if plan.edit is None:
            return await self._send(chat_id, rendered)
        message_id: int | None = plan.edit
        await self.pacer.acquire(chat_id)
        try:
            await self.bot.edit_message_text(rendered.text, chat_id=chat_id, message_id=plan.edit,
                                             parse_mode=ParseMode.HTML, reply_markup=rendered.reply_markup)
        except BadRequest as exc:
            text = str(exc)
            if "chat not found" in text.lower():
                raise
            if "not modified" not in text:  # deleted, too old to edit, …: a new message instead
                log.info("notifier: cannot edit message %s in chat %s (%s); sending a new one", plan.edit, chat_id, text)
                if plan.edit_forget:
                    await self._forget(rendered)
                message_id = await self._send(chat_id, rendered)
        for stale in plan.stale:  # best effort: an older copy that would show outdated data
            try:
                await self.bot.delete_message(chat_id, stale)
            except TelegramError as exc:
                log.info("notifier: cannot delete stale message %s in chat %s: %s", stale, chat_id, exc)
        if plan.stale_forget:
            await self._forget(rendered)
        return message_id

    async def _forget(self, rendered: Rendered) -> None:
        if rendered.forget is not None:
            try:
                await rendered.forget()
            except SQLAlchemyError:
                log.exception("notifier: cannot forget a live message")

    async def _send(self, chat_id: int, rendered: Rendered) -> int | None:
        """Send text (split at 4096) or a document; buttons go on the last message."""
        parts = split_message(rendered.text) if rendered.text else []
        last: Message | None = None
        if rendered.document is not None:
            caption = parts[0] if len(parts) == 1 and len(parts[0]) <= CAPTION_LIMIT else None
            if caption is None:
                for part in parts:
                    await self.pacer.acquire(chat_id)
                    await self.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
            name, content = rendered.document
            await self.pacer.acquire(chat_id)
            last = await self.bot.send_document(chat_id, InputFile(content, filename=name), caption=caption,
                                                parse_mode=ParseMode.HTML if caption else None,
                                                reply_markup=rendered.reply_markup)
            return last.message_id
        for i, part in enumerate(parts):
            await self.pacer.acquire(chat_id)
            last = await self.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML,
                                               reply_markup=rendered.reply_markup if i == len(parts) - 1 else None)
        return last.message_id if last is not None else None
