"""`verify_draw` and `expertpanel draw verify` on a real database: real draws (with several
fields, exclusions and replacements) verify; any stored byte altered afterwards — the ranking,
the seed, the pool, the fields, the exclusions, the selection, an invitation — does not."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from core import draw as drawlib
from core.bootstrap import Core
from core.db.models import AuditEntry, Draw, Invitation
from core.enums import ExpertStatus
from core.services import panels
from core.services.seating import stored_ranking
from tests.factories import make_expert, make_unit_contact, panel_form, rows
from tests.support import forked

PARTY = "新疆某某化工有限公司"


async def _drawn(core: Core, n: int = 14) -> tuple[int, dict[int, Any]]:
    """A 5-seat panel with quotas in two fields, experts holding one or both, some excluded."""
    contact = await make_unit_contact(core)
    experts = {}
    for i in range(n):
        e = await make_expert(core, ["eia", "monitoring"] if i % 3 == 0 else ["eia"] if i % 3 == 1 else ["monitoring"])
        experts[e.id] = e
    await make_expert(core, ["eia"], status=ExpertStatus.SUSPENDED.value)
    await make_expert(core, ["monitoring"], work_unit=PARTY)
    res = await panels.request_panel(core.uow(), contact, panel_form(
        core, fields=[("eia", 3), ("monitoring", 2)], size=5, parties=[(PARTY, None)]))
    assert res.invited == 5 and res.excluded == 2
    return res.panel_id, experts


async def _sql(core: Core, sql: str, **params: Any) -> None:
    async with core.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def _draw(core: Core, panel_id: int) -> Draw:
    return (await rows(core, Draw, Draw.panel_id == panel_id))[-1]


async def test_a_real_draw_verifies_and_its_record_is_in_the_chain(core: Core) -> None:
    panel_id, _ = await _drawn(core)
    assert await panels.verify_draw(core.uow(), panel_id) == []
    draw = await _draw(core, panel_id)
    assert draw.record_version == drawlib.RECORD_VERSION
    entry = (await rows(core, AuditEntry, AuditEntry.action == "draw.record"))[0]
    details = json.loads(entry.details)
    # The chain commits to every stored byte: the texts by their SHA-256, the rest as is.
    assert details["ranking_sha256"] == hashlib.sha256(draw.ranking.encode()).hexdigest()
    assert details["masks_sha256"] == hashlib.sha256(draw.masks.encode()).hexdigest()
    assert details["exclusions_sha256"] == hashlib.sha256(draw.exclusions.encode()).hexdigest()
    assert details["seed"] == draw.seed and details["algorithm"] == drawlib.ALGORITHM
    assert details["selection"] == draw.selection and details["groups"] == draw.groups
    header = {k: details[k] for k in ("algorithm", "seed", "groups", "selection", "ranking_sha256", "masks_sha256",
                                      "exclusions_sha256")}
    assert drawlib.record_digest(header) == draw.digest == details["digest"]
    # … and it is written before the first invitation.
    first_invite = min(e.seq for e in await rows(core, AuditEntry, AuditEntry.action == "invitation.create"))
    assert entry.seq < first_invite
    # The unit's status notice counts what the database holds.
    from core.db.models import Outbox, Panel
    from core.services.seating import latest_draw, seats_of, status_params

    notice = (await rows(core, Outbox, Outbox.kind == "panel_status"))[-1]
    uow = core.uow()
    async with uow:
        panel = await uow.session.get(Panel, panel_id)
        assert panel is not None
        want = status_params(panel, await seats_of(uow, panel, await latest_draw(uow, panel_id)))
    assert notice.params == json.loads(json.dumps(want))
    # A third party re-derives the ranking with the standard library alone.
    import hmac

    codes = draw.ranking.split(",")
    seed = bytes.fromhex(draw.seed)
    assert sorted(codes, key=lambda c: hmac.new(seed, c.encode(), hashlib.sha256).digest()) == codes


async def test_verifies_after_replacements(core: Core) -> None:
    panel_id, experts = await _drawn(core)
    invs = await rows(core, Invitation, Invitation.panel_id == panel_id)
    await panels.decline(core.uow(), experts[invs[0].expert_id].roles, invs[0].id, "schedule")
    await panels.accept(core.uow(), experts[invs[1].expert_id].roles, invs[1].id, unit_consent=True,
                        no_conflict=True, confidentiality=True)
    await panels.withdraw_acceptance(core.uow(), experts[invs[1].expert_id].roles, invs[1].id, "schedule")
    after = await rows(core, Invitation, Invitation.panel_id == panel_id)
    assert sum(1 for i in after if i.replacement_of is not None) == 2
    assert await panels.verify_draw(core.uow(), panel_id) == []


def _swap_first_two(items: list[str]) -> list[str]:
    return [items[1], items[0], *items[2:]]


async def _tamper(core: Core, panel_id: int, what: str) -> None:
    draw = await _draw(core, panel_id)
    ranking, masks = stored_ranking(draw)
    bits = draw.masks.split(",")
    chosen = {c for c, _ in draw.selection}
    if what == "ranking":  # two experts change places
        await _sql(core, "UPDATE draws SET ranking = :r WHERE id = :i", r=",".join(_swap_first_two(ranking)), i=draw.id)
    elif what == "seed":
        seed = ("0" if draw.seed[0] != "0" else "1") + draw.seed[1:]
        await _sql(core, "UPDATE draws SET seed = :s WHERE id = :i", s=seed, i=draw.id)
    elif what == "pool":  # an unchosen expert vanishes from the pool, with his fields
        k = next(i for i, c in enumerate(ranking) if c not in chosen)
        await _sql(core, "UPDATE draws SET ranking = :r, masks = :m WHERE id = :i",
                   r=",".join(ranking[:k] + ranking[k + 1:]), m=",".join(bits[:k] + bits[k + 1:]), i=draw.id)
    elif what == "masks":  # the top expert is said to have held no field
        await _sql(core, "UPDATE draws SET masks = :m WHERE id = :i", m=",".join(["0", *bits[1:]]), i=draw.id)
    elif what == "exclusions":  # an exclusion disappears
        excl = json.loads(draw.exclusions)[1:]
        await _sql(core, "UPDATE draws SET exclusions = :e WHERE id = :i", e=drawlib.exclusions_text(excl), i=draw.id)
    elif what == "selection":
        sel = [[c, g] for c, g in draw.selection]
        sel[0], sel[1] = sel[1], sel[0]
        await _sql(core, "UPDATE draws SET selection = :s WHERE id = :i", s=json.dumps(sel), i=draw.id)
    elif what == "invitation":  # an invitation is rewritten to name someone ranked lower
        inv = (await rows(core, Invitation, Invitation.panel_id == panel_id))[0]
        outsider = next(c for c in reversed(ranking) if c not in chosen)
        await _sql(core, "UPDATE invitations SET expert_id = :e WHERE id = :i", e=int(outsider[1:]), i=inv.id)
    elif what == "digest_everywhere":  # record and stored digest rewritten together; the chain keeps the old
        await _sql(core, "UPDATE draws SET ranking = :r WHERE id = :i", r=",".join(_swap_first_two(ranking)), i=draw.id)
        fresh = drawlib.record_digest(drawlib.record_header(
            draw.seed, draw.algorithm, [drawlib.SeatGroup.from_json(g) for g in draw.groups], draw.selection,
            drawlib.sha256_text(",".join(_swap_first_two(ranking))), drawlib.sha256_text(draw.masks),
            drawlib.sha256_text(draw.exclusions)))
        await _sql(core, "UPDATE draws SET digest = :d WHERE id = :i", d=fresh, i=draw.id)
    else:  # pragma: no cover
        raise AssertionError(what)


@pytest.mark.parametrize("what, parts", [
    ("ranking", {"ranking", "digest"}),
    ("seed", {"ranking", "seed", "digest"}),
    ("pool", {"ranking", "digest"}),
    ("masks", {"masks", "digest"}),
    ("exclusions", {"exclusions", "digest"}),
    ("selection", {"selection", "digest"}),
    ("invitation", {"invitations"}),
    ("digest_everywhere", {"ranking", "audit"}),
])
async def test_any_alteration_is_named(core: Core, what: str, parts: set[str]) -> None:
    panel_id, _ = await _drawn(core)
    await _tamper(core, panel_id, what)
    problems = await panels.verify_draw(core.uow(), panel_id)
    assert problems, what
    assert parts <= {p.split(":")[0] for p in problems}, problems


async def test_a_version_1_record_still_verifies(core: Core) -> None:
    """Draws recorded before migration 0004 (one canonical-JSON digest) keep verifying."""
    from core.services import audit

    panel_id, _ = await _drawn(core)
    draw = await _draw(core, panel_id)
    ranking, masks = stored_ranking(draw)
    groups = [drawlib.SeatGroup.from_json(g) for g in draw.groups]
    excl = json.loads(draw.exclusions)
    old = drawlib.digest_record(draw.seed, draw.algorithm, ranking, excl, groups, draw.selection, masks)
    uow = core.uow()
    async with uow:  # the same draw, as version 1 stored it
        row = Draw(panel_id=panel_id, seed=draw.seed, algorithm=draw.algorithm, record_version=1,
                   created_at=draw.created_at, ranking=",".join(f"{c}:{masks[c]}" for c in ranking), masks="{}",
                   exclusions=json.dumps(excl), groups=draw.groups, selection=draw.selection, digest=old)
        uow.session.add(row)
        await uow.session.flush()
        await audit.append(uow, "test", "draw.record", "draw", row.id, panel_id=panel_id, digest=old)
        await uow.commit()
        v1 = row.id
    assert await panels.verify_draw(core.uow(), panel_id) == []
    swapped = ",".join(f"{c}:{masks[c]}" for c in _swap_first_two(ranking))
    await _sql(core, "UPDATE draws SET ranking = :r WHERE id = :i", r=swapped, i=v1)
    problems = await panels.verify_draw(core.uow(), panel_id)
    assert {p.split(":")[1].strip() for p in problems} >= {"ranking", "digest"}
    assert all(p.startswith(f"draw {v1}: ") for p in problems)


# --- the command line --------------------------------------------------------------------------

def _cli(args: list[str], db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTPANEL_")}
    env.update({"EXPERTPANEL_DATABASE__URL": db_url, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                "EXPERTPANEL_DEFAULT_LANGUAGE": "en"})
    return forked.run(args, module="bot", env=env, cwd=cwd)


async def test_cli_draw_verify(core: Core, db_url: str, tmp_path: Path) -> None:
    panel_id, experts = await _drawn(core)
    invs = await rows(core, Invitation, Invitation.panel_id == panel_id)
    await panels.decline(core.uow(), experts[invs[0].expert_id].roles, invs[0].id, "schedule")
    ok = _cli(["draw", "verify", str(panel_id)], db_url, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert str(panel_id) in ok.stdout and "Traceback" not in ok.stderr

    await _tamper(core, panel_id, "ranking")
    bad = _cli(["draw", "verify", str(panel_id)], db_url, tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    line = bad.stderr.strip()
    assert line.count("\n") == 0 and "ranking: position 1 holds" in line, line

    missing = _cli(["draw", "verify", "999999"], db_url, tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "999999" in missing.stderr


async def test_cli_draw_verify_names_an_altered_seed(core: Core, db_url: str, tmp_path: Path) -> None:
    panel_id, _ = await _drawn(core)
    await _tamper(core, panel_id, "seed")
    bad = _cli(["draw", "verify", str(panel_id)], db_url, tmp_path)
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0
    assert "ranking:" in bad.stderr and "more problem" in bad.stderr


async def test_the_pool_is_the_bare_query(core: Core) -> None:
    """The stored pool is exactly what the benchmark's bare SELECT returns."""
    panel_id, _ = await _drawn(core)
    draw = await _draw(core, panel_id)
    from core.services.pool import bare_eligible_ids, pool_query
    from core.conflicts import party_key
    from core.db.models import Panel

    uow = core.uow()
    async with uow:
        panel = await uow.session.get(Panel, panel_id)
        assert panel is not None
        unit = (await uow.session.execute(select(text("name")).select_from(text("using_units"))
                                          .where(text("id = :u")), {"u": panel.unit_id})).scalar_one()
        q = pool_query(panel, [f.category_id for f in panel.fields], party_key(unit, None), core.settings.tz, 3)
        bare = await bare_eligible_ids(uow, q)
    assert sorted(int(c[1:]) for c in draw.ranking.split(",")) == bare


async def test_the_documented_verification_runs_on_a_stored_draw(core: Core) -> None:
    """docs/draw.md's few lines, with its reference rank/select, accept a real stored draw and
    reject it once the ranking is altered."""
    from tests.unit.test_draw_doc import REF, verify_source

    ns: dict[str, Any] = {}
    exec(compile(verify_source(), "docs/draw.md", "exec"), ns)  # noqa: S102 - our own document
    panel_id, _ = await _drawn(core)

    async def record() -> tuple[dict[str, Any], dict[str, Any]]:
        draw = await _draw(core, panel_id)
        row = {k: getattr(draw, k) for k in ("seed", "algorithm", "ranking", "masks", "exclusions", "groups",
                                            "selection")}
        entry = (await rows(core, AuditEntry, AuditEntry.action == "draw.record"))[0]
        return row, json.loads(entry.details)

    ns["verify"](*await record(), REF["rank"], REF["select"])
    await _tamper(core, panel_id, "ranking")
    with pytest.raises(AssertionError):
        ns["verify"](*await record(), REF["rank"], REF["select"])


async def test_a_pool_scanned_in_pieces_is_the_same_pool(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large id ranges are scanned in two pieces at once, on two connections: same pool,
    same exclusions, and the ids fed to the hashing are the pool's, in its order."""
    from core.conflicts import party_key
    from core.db.models import Panel
    from core.services import pool as poolmod

    panel_id, _ = await _drawn(core, n=30)
    uow = core.uow()
    async with uow:
        panel = await uow.session.get(Panel, panel_id)
        assert panel is not None
        q = poolmod.pool_query(panel, [f.category_id for f in panel.fields], party_key("x", None), core.settings.tz, 3)
        whole = await poolmod.compute_pool(uow, q)
        monkeypatch.setattr(poolmod, "PIECE_IDS", 4)
        monkeypatch.setattr(poolmod, "FORCE_PIECES", True)
        fed: list[list[int]] = []
        beside: list[Any] = []
        scan_beside = poolmod._scan_beside
        monkeypatch.setattr(poolmod, "_scan_beside", lambda *a: beside.append(a) or scan_beside(*a))
        pieces = await poolmod.compute_pool(uow, q, feed=lambda ids: fed.append([int(i) for i in ids]))
        # The second piece ran on a connection of its own (a worker thread's on SQLite).
        assert len(beside) == 1
        assert len(await poolmod._pieces(uow)) == 2
    assert len(fed) == 2 and all(fed)
    assert list(map(int, pieces.ids)) == sum(fed, [])
    # The same experts with the same fields (in the scan's order: by field mask, then id).
    assert sorted(zip(map(int, pieces.ids), map(int, pieces.masks))) == sorted(zip(map(int, whole.ids),
                                                                                 map(int, whole.masks)))
    assert pieces.exclusions == whole.exclusions and whole.exclusions
    # A whole draw in pieces verifies.
    contact = await make_unit_contact(core)
    form = panel_form(core, fields=[("eia", 3), ("monitoring", 2)], size=5, starts_in=timedelta(days=30))
    res = await panels.request_panel(core.uow(), contact, form)
    assert res.invited == 5 and await panels.verify_draw(core.uow(), res.panel_id) == []


async def test_pieces_split_at_stale_bounds_still_cover_every_expert(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split point comes from id bounds read up to BOUNDS_TTL ago; experts enrolled since
    (ids above the old maximum, or all below the split) are scanned all the same."""
    from core.conflicts import party_key
    from core.db.models import Panel
    from core.services import pool as poolmod

    panel_id, _ = await _drawn(core, n=12)
    monkeypatch.setattr(poolmod, "FORCE_PIECES", True)

    async def both_ways() -> tuple[Any, Any]:
        uow = core.uow()
        async with uow:
            panel = await uow.session.get(Panel, panel_id)
            assert panel is not None
            q = poolmod.pool_query(panel, [f.category_id for f in panel.fields], party_key("x", None),
                                   core.settings.tz, 3)
            return await poolmod.compute_pool(uow, q), await poolmod.compute_pool(uow, q, feed=lambda ids: None)

    whole, pieces = await both_ways()
    engine = core.engine.sync_engine
    lo, hi = poolmod._bounds[engine][1]  # read by the draw
    for _ in range(6):
        await make_expert(core, ["eia"])
    monkeypatch.setattr(poolmod, "_bounds", {engine: (time.monotonic(), (lo, lo + 1))})
    whole2, pieces2 = await both_ways()
    assert len(whole2.ids) == len(whole.ids) + 6 and poolmod._bounds[engine][1] == (lo, lo + 1)
    for a, b in ((whole, pieces), (whole2, pieces2)):
        assert sorted(map(int, a.ids)) == sorted(map(int, b.ids)) and a.exclusions == b.exclusions
    # Past the TTL the bounds are read again.
    monkeypatch.setattr(poolmod, "BOUNDS_TTL", 0.0)
    await both_ways()
    assert poolmod._bounds[engine][1][0] == lo and poolmod._bounds[engine][1][1] >= hi + 6


@pytest.mark.parametrize("pieces", [False, True])
async def test_the_packed_scan_and_the_plain_one_give_the_same_pool(
    core: Core, monkeypatch: pytest.MonkeyPatch, pieces: bool
) -> None:
    """The scan packs code and field bits into one number while the requested fields' ids are
    small (`_PACK_BITS`), and returns them as two texts otherwise: the same pool either way."""
    from core.conflicts import party_key
    from core.db.models import Panel
    from core.services import pool as poolmod

    panel_id, _ = await _drawn(core, n=30)
    monkeypatch.setattr(poolmod, "FORCE_PIECES", pieces)
    uow = core.uow()
    async with uow:
        panel = await uow.session.get(Panel, panel_id)
        assert panel is not None
        q = poolmod.pool_query(panel, [f.category_id for f in panel.fields], party_key("x", None), core.settings.tz, 3)
        assert poolmod._packing(q) == q.field_mask + 1
        packed = await poolmod.compute_pool(uow, q, feed=lambda ids: None)
        monkeypatch.setattr(poolmod, "_PACK_BITS", 0)
        assert poolmod._packing(q) is None
        plain = await poolmod.compute_pool(uow, q, feed=lambda ids: None)
    assert len(packed.ids) > 0 and packed.exclusions
    assert list(map(int, packed.ids)) == list(map(int, plain.ids))
    assert list(map(int, packed.masks)) == list(map(int, plain.masks))
    assert packed.exclusions == plain.exclusions


async def test_migration_0004_downgrade_keeps_version_2_draws_usable(core: Core, db_url: str) -> None:
    """Downgrading below 0004 rewrites version-2 rows in the version-1 layout (ranking as
    CODE:MASK), so that replacements from the old code keep working; upgrading again reads
    them as version 1."""
    from core.db.migrate import downgrade, upgrade

    panel_id, _ = await _drawn(core)
    draw = await _draw(core, panel_id)
    ranking, masks = stored_ranking(draw)
    await core.engine.dispose()
    await downgrade(db_url, "0003")
    try:
        async with core.engine.connect() as conn:
            stored, stored_masks = (await conn.execute(text("SELECT ranking, masks FROM draws WHERE id = :i"),
                                                       {"i": draw.id})).one()
        assert stored == ",".join(f"{c}:{masks[c]}" for c in ranking)
        assert (json.loads(stored_masks) if isinstance(stored_masks, str) else stored_masks) == {}
    finally:
        await core.engine.dispose()
        await upgrade(db_url, "head")
    again = await _draw(core, panel_id)
    assert again.record_version == 1 and stored_ranking(again) == (ranking, masks)


async def test_a_draw_failing_while_its_second_piece_scans_leaves_nothing(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan starts before the panel is inserted; a failure in between (here the seat
    groups' check) waits for the piece in flight, rolls everything back, and the next draw
    works."""
    from core.db.models import Panel
    from core.errors import DomainError
    from core.services import pool as poolmod

    await _drawn(core, n=30)
    monkeypatch.setattr(poolmod, "FORCE_PIECES", True)
    beside: list[Any] = []
    scan_beside = poolmod._scan_beside
    monkeypatch.setattr(poolmod, "_scan_beside", lambda *a: beside.append(scan_beside(*a)) or beside[-1])

    def refuse(size: int, groups: Any) -> None:
        raise DomainError("panel.quota_invalid")

    monkeypatch.setattr(drawlib, "validate_groups", refuse)
    contact = await make_unit_contact(core)
    form = panel_form(core, fields=[("eia", 3), ("monitoring", 2)], size=5, starts_in=timedelta(days=30))
    before = len(await rows(core, Panel))
    with pytest.raises(DomainError):
        await panels.request_panel(core.uow(), contact, form)
    assert len(beside) == 1 and beside[0].done()
    assert len(await rows(core, Panel)) == before
    monkeypatch.undo()
    res = await panels.request_panel(core.uow(), contact, form)
    assert res.invited == 5 and await panels.verify_draw(core.uow(), res.panel_id) == []


async def test_a_failure_taking_the_piece_beside_fails_the_draw_and_leaves_nothing(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The piece scanned beside is taken (split, fed to the hashing, its exclusions worked out)
    while this connection scans its own: on a worker thread on SQLite, on the loop on
    PostgreSQL. A failure there is the draw's: raised, everything rolled back, the next draw
    works."""
    from core.db.models import Panel
    from core.services import pool as poolmod

    await _drawn(core, n=30)
    monkeypatch.setattr(poolmod, "FORCE_PIECES", True)
    taken: list[str] = []
    take = poolmod._Pieces.take

    def failing_take(self: Any, scanned: Any) -> None:
        taken.append(threading.current_thread().name)
        if len(taken) == 1:
            raise RuntimeError("taking the first piece failed")
        take(self, scanned)

    monkeypatch.setattr(poolmod._Pieces, "take", failing_take)
    contact = await make_unit_contact(core)
    form = panel_form(core, fields=[("eia", 3), ("monitoring", 2)], size=5, starts_in=timedelta(days=30))
    before = len(await rows(core, Panel))
    with pytest.raises(RuntimeError, match="taking the first piece failed"):
        await panels.request_panel(core.uow(), contact, form)
    on_thread = core.engine.dialect.name == "sqlite"
    assert taken[0].startswith("pool-side") == on_thread
    assert len(await rows(core, Panel)) == before
    monkeypatch.undo()
    res = await panels.request_panel(core.uow(), contact, form)
    assert res.invited == 5 and await panels.verify_draw(core.uow(), res.panel_id) == []


@pytest.mark.parametrize("failing", ["insert", "texts"])
async def test_a_draw_failing_as_it_writes_leaves_nothing(
    core: Core, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A failure once the panel and its draw are inserted, or while the record's texts are
    written and hashed, rolls everything back, and the next draw works."""
    from core.db.models import Draw, Panel, PanelParty
    from core.services import panels as panelsmod

    await _drawn(core, n=30)
    contact = await make_unit_contact(core)
    form = panel_form(core, fields=[("eia", 3), ("monitoring", 2)], size=5, starts_in=timedelta(days=30),
                      parties=[(PARTY, None), ("另一家公司", None)])
    tables = (Panel, PanelParty, Draw, Invitation, AuditEntry)
    counts = [len(await rows(core, m)) for m in tables]
    if failing == "insert":
        insert_drawn = panelsmod._insert_drawn
        inserted: list[int] = []

        async def fail(*a: Any) -> int:
            inserted.append(await insert_drawn(*a))
            raise RuntimeError("the database went away")

        monkeypatch.setattr(panelsmod, "_insert_drawn", fail)
    else:
        monkeypatch.setattr(drawlib, "exclusions_text", lambda *a: 1 / 0)
    with pytest.raises((RuntimeError, ZeroDivisionError)):
        await panels.request_panel(core.uow(), contact, form)
    assert [len(await rows(core, m)) for m in tables] == counts
    assert len(inserted if failing == "insert" else [0]) == 1
    monkeypatch.undo()
    res = await panels.request_panel(core.uow(), contact, form)
    assert res.invited == 5 and await panels.verify_draw(core.uow(), res.panel_id) == []
    # The parties are stored in the form's order, which their ids keep (exclusions name them by index).
    parties = await rows(core, PanelParty, PanelParty.panel_id == res.panel_id)
    assert [p.name for p in sorted(parties, key=lambda p: p.id)] == [PARTY, "另一家公司"]
