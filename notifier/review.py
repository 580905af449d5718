"""Review before it counts: the three-way merge of a re-import, and what it would change.

Owns: pairing rows across two versions of a plan (`match_rows`: identical text, then
similar text between those pairs, then the same ref; refs shift when a row is inserted),
the merge (`merge(base, incoming, live) -> Merged`) and the diff of the live schedule
against what would replace it (`diff(live, result) -> Changes`, `Changes.as_json()`);
`Conflict`, `RowChange`, `key_label` (a key as people read it: "nội dung (content)").

The three versions (docs/importing.md, "Duyệt trước khi dùng"):
- base: what the previous approved import produced from the source document,
- incoming: what this import produces from the (corrected) document,
- live: the schedule in use, with the edits admins made by hand.
Keys are merged in groups that only make sense together (the timing text with its dates,
`lead_text` with `lead`, …). A group is "changed by the source" when incoming ≠ base and
"edited by hand" when live ≠ base: an untouched group follows the source, a hand-edited one
stays unless the source changed it too; then the admin's version stays and a `Conflict`
carries the source's for the diff. Key dates the source changed are taken with the
admin's `accepted` carried over (not a conflict). Without a base (a schedule written before
drafts existed) the rule of schedules.py applies: source cells follow the source, a value
derived from a cell (dates, canonical units) stays while its cell is unchanged.

Pure: plans in, rows and findings out; no files, no clock. Rows are schedules.py's plain
form (`activity_row`, …). Not here: where drafts and bases live, approving (importing.py),
printing (cli.py).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from difflib import SequenceMatcher
from typing import Any, overload

from notifier.plan import Plan
from notifier.schedules import Row, activity_row, plan_row, report_row
from notifier.text import fold

__all__ = [
    "Changes",
    "Conflict",
    "Merged",
    "RowChange",
    "diff",
    "key_label",
    "match_rows",
    "merge",
]

Group = tuple[str, ...]

_TIMING: Group = ("timing", "kind", "start", "end", "rule", "reason", "bound")
_ACTIVITY_GROUPS: tuple[Group, ...] = (
    ("ref",),
    ("section",),
    ("section_title",),
    ("content",),
    ("lead_text", "lead"),
    ("coordinating_text", "coordinating"),
    ("funding",),
    _TIMING,
    ("key_dates",),
    ("source_line",),
)
# Without a base, a derived group follows the source only when these cells changed.
_ACTIVITY_CELLS: dict[Group, Group] = {
    ("lead_text", "lead"): ("lead_text",),
    ("coordinating_text", "coordinating"): ("coordinating_text",),
    _TIMING: ("timing",),
    ("key_dates",): ("content", "timing"),
}
_REPORT_GROUPS: tuple[Group, ...] = (
    ("id",),
    ("period",),
    ("title",),
    ("to_text", "to"),
    ("owners_text", "owners"),
    ("source_text",),
    ("source_line",),
)
_REPORT_CELLS: dict[Group, Group] = {
    ("to_text", "to"): ("to_text",),
    ("owners_text", "owners"): ("owners_text",),
}
_PLAN_GROUPS: tuple[Group, ...] = tuple(
    (k,) for k in ("number", "date", "issuer", "place", "title", "year", "timing_header", "source")
)
_WHERE = ("source_line",)  # where a row sits in the document: never a conflict, never news

# Similarity (difflib ratio of folded text) that still counts as the same row.
_SAME_REF_NEAR = 0.6  # same ref: a reworded cell
_MOVED_NEAR = 0.75  # another ref: the row moved and was reworded
_MAX_PAIRS = 20_000  # similarity is quadratic (≈ 40 µs a pair): beyond this, same ref first


# How people see a key: Vietnamese, with the file's key (admins edit the file by that name).
_LABELS = {
    "ref": "mã", "section": "mục", "section_title": "tên mục", "content": "nội dung",
    "lead_text": "ô chủ trì", "lead": "chủ trì", "coordinating_text": "ô phối hợp",
    "coordinating": "phối hợp", "funding": "kinh phí", "timing": "thời gian", "kind": "loại",
    "start": "từ ngày", "end": "đến ngày", "rule": "quy tắc lặp", "reason": "lý do",
    "bound": "kiểu hạn", "key_dates": "ngày gợi ý", "source_line": "dòng gốc", "id": "mã",
    "period": "kỳ", "title": "tên", "to": "nơi nhận", "to_text": "ô nơi nhận",
    "owners": "đơn vị báo cáo", "owners_text": "ô đơn vị báo cáo", "source_text": "câu gốc",
    "number": "số", "date": "ngày ban hành", "issuer": "cơ quan ban hành", "place": "địa danh",
    "year": "năm", "timing_header": "cột thời gian", "source": "tệp gốc",
}  # fmt: skip


def key_label(key: str) -> str:
    """ "nội dung (content)": a key as the diff shows it."""
    label = _LABELS.get(key)
    return f"{label} ({key})" if label else key


# --- pairing rows --------------------------------------------------------------------------------


_NUMBER = re.compile(r"\d+")


def _numbers(key: str) -> tuple[str, ...]:
    return tuple(_NUMBER.findall(key))


def _ratio(a: str, b: str) -> float:
    if a == b:
        return 1.0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < _SAME_REF_NEAR or matcher.quick_ratio() < _SAME_REF_NEAR:
        return 0.0
    return matcher.ratio()


def match_rows(
    old: Sequence[Row],
    new: Sequence[Row],
    *,
    ident: str = "ref",
    text: str = "content",
    anchor: Sequence[str] = ("lead_text", "timing"),
) -> dict[int, int]:
    """Pairs (old index → new index) of rows that are the same row in two versions.

    1. Identical text (so rows renumbered after an insertion keep their identity), the row
       under the same ref first.
    2. Reworded rows within the same gap between rows paired in step 1 (the order of rows
       is kept: neighbours in a plan are often much alike, so similarity alone would pair a
       row with its neighbour): most similar first, at least 0.75 (0.6 under the same ref
       when the `anchor` cells agree too).
    3. Moved and reworded rows anywhere: at least 0.75, whatever the ref.
    4. The same ref whatever the text, when the `anchor` cells agree too (a cell rewritten
       in place; a row deleted and another inserted at its place has other units or timing).
    Text is compared folded (case, NFD, tone placement); the same ref only breaks ties.
    """
    keys_old = [fold(str(r.get(text, ""))) for r in old]
    keys_new = [fold(str(r.get(text, ""))) for r in new]
    nums_old, nums_new = [_numbers(k) for k in keys_old], [_numbers(k) for k in keys_new]
    pairs: dict[int, int] = {}
    used: set[int] = set()
    by_ident: dict[Any, int] = {}
    for j, row in enumerate(new):
        by_ident.setdefault(row.get(ident), j)
    free: dict[str, list[int]] = defaultdict(list)
    for j in range(len(new)):
        free[keys_new[j]].append(j)
    for i in range(len(old)):
        same_text = free.get(keys_old[i])
        if same_text:
            twin = by_ident.get(old[i].get(ident))
            pick = twin if twin in same_text else same_text[0]
            same_text.remove(pick)
            pairs[i] = pick
            used.add(pick)

    def agree(i: int, j: int) -> bool:
        return all(old[i].get(k) == new[j].get(k) for k in anchor)

    def best_first(candidates: list[tuple[int, int]], near: float, same_ref_near: float) -> None:
        scored = []
        for i, j in candidates:
            same = old[i].get(ident) == new[j].get(ident)
            score = _ratio(keys_old[i], keys_new[j])
            if score >= (same_ref_near if same and agree(i, j) else near):
                scored.append((nums_old[i] != nums_new[j], -score, not same, i, j))
        for *_, i, j in sorted(scored):
            if i not in pairs and j not in used:
                pairs[i] = j
                used.add(j)

    def left() -> tuple[list[int], list[int]]:
        return [i for i in range(len(old)) if i not in pairs], [j for j in range(len(new)) if j not in used]

    left_old, left_new = left()
    gap_old, gap_new = _gaps(pairs, len(old), len(new))
    in_gap: dict[int, list[int]] = defaultdict(list)
    for j in left_new:
        in_gap[gap_new[j]].append(j)
    candidates = [(i, j) for i in left_old for j in in_gap[gap_old[i]]]
    if len(candidates) > _MAX_PAIRS:  # too many to compare: the same ref only
        candidates = [(i, j) for i, j in candidates if old[i].get(ident) == new[j].get(ident)]
    best_first(candidates, _MOVED_NEAR, _SAME_REF_NEAR)
    left_old, left_new = left()
    if len(left_old) * len(left_new) <= _MAX_PAIRS:
        best_first([(i, j) for i in left_old for j in left_new], _MOVED_NEAR, _MOVED_NEAR)
    for i in left()[0]:
        twin = by_ident.get(old[i].get(ident))
        if twin is not None and twin not in used and agree(i, twin):
            pairs[i] = twin
            used.add(twin)
    return pairs


def _gaps(pairs: Mapping[int, int], n_old: int, n_new: int) -> tuple[list[int], list[int]]:
    """For each row of both versions, which gap between paired rows it lies in. The gaps are
    cut by the longest run of pairs in the same order in both versions (a row moved far away
    cuts nothing)."""
    chain = _increasing(sorted(pairs.items()))
    gap_old, gap_new = [0] * n_old, [0] * n_new
    cut_old = {i for i, _ in chain}
    cut_new = {j for _, j in chain}
    for gaps, cuts in ((gap_old, cut_old), (gap_new, cut_new)):
        seen = 0
        for index in range(len(gaps)):
            if index in cuts:
                seen += 1
            gaps[index] = seen
    return gap_old, gap_new


def _increasing(items: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest subsequence of (i, j) pairs, sorted by i, whose j increase (patience sort)."""
    tails: list[int] = []  # tails[k]: index in items of the smallest j ending a run of k + 1
    ends: list[int] = []  # that j, for bisect
    back: list[int] = [-1] * len(items)
    for n, (_, j) in enumerate(items):
        k = bisect_left(ends, j)
        if k > 0:
            back[n] = tails[k - 1]
        if k == len(tails):
            tails.append(n)
            ends.append(j)
        else:
            tails[k], ends[k] = n, j
    out, n = [], tails[-1] if tails else -1
    while n >= 0:
        out.append(items[n])
        n = back[n]
    return out[::-1]


# --- the merge -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conflict:
    """The source and an admin both changed `keys` of one row: the admin's version stays.

    `kept` is what stays (empty: the admin deleted the row), `source` what the source now
    says (empty: the source dropped the row); `note` explains anything else done."""

    table: str  # "activities" | "reports" | "plan"
    ident: str  # the row's ref / id
    keys: tuple[str, ...]
    kept: Row
    source: Row
    note: str = ""

    def message(self) -> str:
        where = {"activities": "Hoạt động", "reports": "Báo cáo", "plan": "Thông tin kế hoạch"}
        head = where.get(self.table, self.table) + (
            f" {self.ident}" if self.table != "plan" else ""
        )
        if self.note:
            return f"{head}: {self.note}"
        if not self.kept:
            return f"{head}: quản trị đã xóa tay nhưng văn bản nguồn có thay đổi; vẫn để xóa."
        if not self.source:
            return f"{head}: văn bản nguồn đã bỏ hàng này nhưng quản trị đã sửa tay; vẫn giữ."
        keys = ", ".join(key_label(k) for k in self.keys)
        return f"{head}: cả văn bản nguồn và quản trị đều sửa {keys}; giữ bản sửa tay."


@dataclass(frozen=True, slots=True)
class Merged:
    """The merged schedule as rows, and the live table each row came from (for comments)."""

    plan: Row
    activities: tuple[Row, ...]
    activity_tables: tuple[int | None, ...]
    reports: tuple[Row, ...]
    report_tables: tuple[int | None, ...]
    conflicts: tuple[Conflict, ...] = ()


@dataclass(frozen=True, slots=True)
class _Kind:
    table: str
    ident: str
    text: str
    groups: tuple[Group, ...]
    cells: Mapping[Group, Group]
    anchor: tuple[str, ...]  # cells that must agree to pair rows by ref alone


_ACTIVITIES = _Kind(
    "activities", "ref", "content", _ACTIVITY_GROUPS, _ACTIVITY_CELLS, ("lead_text", "timing")
)
_REPORTS = _Kind("reports", "id", "title", _REPORT_GROUPS, _REPORT_CELLS, ())
_PLAN = _Kind("plan", "", "", _PLAN_GROUPS, {}, ())


def _groups(kind: _Kind, *rows: Row | None) -> tuple[Group, ...]:
    """The kind's groups, plus any other key a row has (each alone), so nothing is lost."""
    known = {k for g in kind.groups for k in g}
    extra = sorted({k for r in rows if r for k in r if k not in known})
    return (*kind.groups, *((k,) for k in extra))


def _pick(row: Row | None, group: Group) -> tuple[Any, ...]:
    return tuple(row.get(k) for k in group) if row is not None else ()


def _put(row: Row, group: Group, values: tuple[Any, ...]) -> None:
    for key, value in zip(group, values, strict=True):
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value


def _differs(a: Row, b: Row, groups: Sequence[Group]) -> list[str]:
    """Keys (outside `_WHERE`) whose group differs between two rows."""
    return [k for g in groups if g != _WHERE and _pick(a, g) != _pick(b, g) for k in g]


def _carry_accepted(new: list[Any] | None, old: list[Any] | None) -> list[Any] | None:
    """The source's key dates, accepted where the admin accepted the same date and label."""
    if not new:
        return new
    accepted = {(k.get("date"), k.get("label")) for k in old or () if k.get("accepted")}
    return [
        {**k, "accepted": bool(k.get("accepted")) or (k.get("date"), k.get("label")) in accepted}
        for k in new
    ]


def _merge_row(base: Row | None, incoming: Row, live: Row, kind: _Kind) -> tuple[Row, list[str]]:
    """One row merged group by group; the keys in conflict (the live value kept)."""
    out = dict(live)
    conflicts: list[str] = []
    for group in _groups(kind, base, incoming, live):
        b, i, lv = _pick(base, group), _pick(incoming, group), _pick(live, group)
        if i == lv:
            continue
        if base is None:  # no record of the last import: cells follow the source
            cells = kind.cells.get(group, group)
            take = lv if _pick(incoming, cells) == _pick(live, cells) else i
        elif i == b:  # the source did not change it: the admin's value (edited or not)
            take = lv
        elif lv == b:  # not edited by hand: the source's new value
            take = i
        elif group == ("key_dates",):
            take = (_carry_accepted(i[0], lv[0]),)
        elif group == _WHERE:
            take = i
        else:
            take = lv
            conflicts += [k for k, x, y in zip(group, i, lv, strict=True) if x != y]
        _put(out, group, take)
    return out, conflicts


def _merge_rows(
    base: Sequence[Row], incoming: Sequence[Row], live: Sequence[Row], kind: _Kind, *, based: bool
) -> tuple[list[Row], list[int | None], list[Conflict]]:
    """Rows of the merged table, the live table each came from, and the conflicts. Without
    a base (`based` false) a live row the source does not have is dropped, as before drafts."""
    base_inc = match_rows(base, incoming, ident=kind.ident, text=kind.text, anchor=kind.anchor)
    base_live = match_rows(base, live, ident=kind.ident, text=kind.text, anchor=kind.anchor)
    # Rows new on both sides (or every row, without a base) are paired with each other.
    inc_known, live_known = set(base_inc.values()), set(base_live.values())
    inc_new = [j for j in range(len(incoming)) if j not in inc_known]
    live_new = [k for k in range(len(live)) if k not in live_known]
    both = match_rows(
        [live[k] for k in live_new],
        [incoming[j] for j in inc_new],
        ident=kind.ident,
        text=kind.text,
        anchor=kind.anchor,
    )
    base_of_inc = {j: b for b, j in base_inc.items()}
    live_of_inc = {j: base_live[b] for b, j in base_inc.items() if b in base_live}
    live_of_inc.update({inc_new[c]: live_new[a] for a, c in both.items()})
    inc_of_live = {k: j for j, k in live_of_inc.items()}
    base_of_live = {k: b for b, k in base_live.items()}

    placed: list[tuple[tuple[int, int, int], Row, int | None]] = []
    conflicts: list[Conflict] = []
    for j, row in enumerate(incoming):
        b, k = base_of_inc.get(j), live_of_inc.get(j)
        if k is None and b is not None:  # deleted by hand
            changed = _differs(base[b], row, _groups(kind, base[b], row))
            if changed:
                conflicts.append(
                    Conflict(kind.table, str(row.get(kind.ident)), tuple(changed), {}, row)
                )
            continue
        if k is None:
            placed.append(((j, 0, 0), dict(row), None))
            continue
        merged, keys = _merge_row(base[b] if b is not None else None, row, live[k], kind)
        if keys:
            source = {key: row.get(key) for key in keys}
            conflicts.append(
                Conflict(
                    kind.table,
                    str(merged.get(kind.ident)),
                    tuple(keys),
                    {x: merged.get(x) for x in keys},
                    source,
                )
            )
        placed.append(((j, 0, 0), merged, k))
    after = -1  # live rows the source does not have stay after the row they followed
    for k, row in enumerate(live):
        if k in inc_of_live:
            after = inc_of_live[k]
            continue
        b = base_of_live.get(k)
        if not based:
            continue
        if b is not None:  # the source dropped it
            if not _differs(base[b], row, _groups(kind, base[b], row)):
                continue
            conflicts.append(Conflict(kind.table, str(row.get(kind.ident)), (), dict(row), {}))
        placed.append(((after, 1, k), dict(row), k))
    placed.sort(key=lambda p: p[0])
    rows = [row for _, row, _ in placed]
    # The source's rows keep their refs; a kept row of the admin's gives way.
    order = sorted(range(len(placed)), key=lambda n: (placed[n][0][1], n))
    conflicts += _unique_idents([rows[n] for n in order], kind)
    return rows, [origin for _, _, origin in placed], conflicts


def _unique_idents(rows: list[Row], kind: _Kind) -> list[Conflict]:
    """A ref taken twice (an admin's row and a new row of the source): the one that comes
    later in `rows` is renamed "II.7 (2)", in place, with a note."""
    seen: set[Any] = {r.get(kind.ident) for r in rows}
    first: set[Any] = set()
    notes = []
    for row in rows:
        ident = row.get(kind.ident)
        if ident not in first:
            first.add(ident)
            continue
        n = 2
        while f"{ident} ({n})" in seen:
            n += 1
        row[kind.ident] = renamed = f"{ident} ({n})"
        seen.add(renamed)
        notes.append(
            Conflict(kind.table, renamed, (kind.ident,), {kind.ident: renamed}, {kind.ident: ident},
                     note=f"mã {ident} bị trùng nên đổi thành {renamed}; hãy sửa lại cho đúng.")
        )  # fmt: skip
    return notes


def merge(base: Plan | None, incoming: Plan, live: Plan | None) -> Merged:
    """The schedule to publish: `incoming` where the source changed, `live` where admins did."""
    inc_a = [activity_row(a) for a in incoming.activities]
    inc_r = [report_row(r) for r in incoming.reports]
    if live is None:
        return Merged(
            plan_row(incoming),
            tuple(inc_a),
            (None,) * len(inc_a),
            tuple(inc_r),
            (None,) * len(inc_r),
        )
    base_plan = plan_row(base) if base is not None else None
    plan, keys = _merge_row(base_plan, plan_row(incoming), plan_row(live), _PLAN)
    conflicts = []
    if keys:
        source = plan_row(incoming)
        conflicts.append(
            Conflict(
                "plan",
                "",
                tuple(keys),
                {k: plan.get(k) for k in keys},
                {k: source.get(k) for k in keys},
            )
        )
    based = base is not None
    base_a = [activity_row(a) for a in base.activities] if base is not None else []
    base_r = [report_row(r) for r in base.reports] if base is not None else []
    activities, a_tables, a_conflicts = _merge_rows(
        base_a, inc_a, [activity_row(a) for a in live.activities], _ACTIVITIES, based=based
    )
    reports, r_tables, r_conflicts = _merge_rows(
        base_r, inc_r, [report_row(r) for r in live.reports], _REPORTS, based=based
    )
    return Merged(
        plan,
        tuple(activities),
        tuple(a_tables),
        tuple(reports),
        tuple(r_tables),
        tuple(conflicts + a_conflicts + r_conflicts),
    )


# --- the diff ------------------------------------------------------------------------------------

_DATES = ("start", "end")
_SHOWN = tuple(
    k for g in _ACTIVITY_GROUPS if g != _WHERE for k in g if k not in _DATES
)  # what "changed" lists: content, units, funding, timing text, section, key dates …


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row in both versions: its ref now and before, and the keys that differ."""

    ref: str
    old_ref: str
    fields: tuple[str, ...]
    old: Row
    new: Row


@dataclass(frozen=True, slots=True)
class Changes:
    """What replacing the live schedule by `result` would change."""

    slug: str
    new_file: bool
    added: tuple[Row, ...] = ()
    removed: tuple[Row, ...] = ()
    redated: tuple[RowChange, ...] = ()
    changed: tuple[RowChange, ...] = ()
    moved: int = 0  # rows whose only change is their line in the document
    renumbered: tuple[tuple[str, str], ...] = ()  # (old ref, new ref) of rows only renumbered
    reports_added: tuple[Row, ...] = ()
    reports_removed: tuple[Row, ...] = ()
    reports_changed: tuple[RowChange, ...] = ()
    plan_fields: tuple[tuple[str, Any, Any], ...] = ()
    conflicts: tuple[Conflict, ...] = field(default=())

    @property
    def changes_schedule(self) -> bool:
        """True when approving would change what the daemon uses (the diff's exit code 1)."""
        return bool(
            self.new_file or self.added or self.removed or self.redated or self.changed
            or self.moved or self.renumbered or self.reports_added or self.reports_removed or self.reports_changed
            or self.plan_fields
        )  # fmt: skip

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "redated": len(self.redated),
            "changed": len(self.changed),
            "moved": self.moved,
            "renumbered": len(self.renumbered),
            "reports": len(self.reports_added)
            + len(self.reports_removed)
            + len(self.reports_changed),
            "plan": len(self.plan_fields),
            "conflicts": len(self.conflicts),
        }

    def as_json(self) -> dict[str, Any]:
        def brief(row: Row) -> dict[str, Any]:
            return _jsonable({k: row.get(k) for k in ("ref", "content", "start", "end", "timing")})

        def change(c: RowChange) -> dict[str, Any]:
            return {
                "ref": c.ref,
                "old_ref": c.old_ref,
                "content": c.new.get("content", ""),
                "fields": {
                    k: _jsonable({"old": c.old.get(k), "new": c.new.get(k)}) for k in c.fields
                },
            }

        return {
            "plan": self.slug,
            "new_file": self.new_file,
            "changes": self.changes_schedule,
            "counts": self.counts(),
            "added": [brief(r) for r in self.added],
            "removed": [brief(r) for r in self.removed],
            "redated": [
                {
                    **change(c),
                    "old": _jsonable({k: c.old.get(k) for k in _DATES}),
                    "new": _jsonable({k: c.new.get(k) for k in _DATES}),
                }
                for c in self.redated
            ],
            "changed": [change(c) for c in self.changed],
            "renumbered": [{"old_ref": old, "ref": new} for old, new in self.renumbered],
            "reports": {
                "added": [_jsonable(r) for r in self.reports_added],
                "removed": [_jsonable(r) for r in self.reports_removed],
                "changed": [change(c) for c in self.reports_changed],
            },
            "plan_fields": {k: _jsonable({"old": o, "new": n}) for k, o, n in self.plan_fields},
            "conflicts": [
                {
                    "table": c.table,
                    "ref": c.ident,
                    "keys": list(c.keys),
                    "kept": _jsonable(c.kept),
                    "source": _jsonable(c.source),
                    "message": c.message(),
                }
                for c in self.conflicts
            ],
        }


@overload
def _jsonable(value: dict[str, Any]) -> dict[str, Any]: ...
@overload
def _jsonable(value: Any) -> Any: ...


def _jsonable(value: Any) -> Any:
    """Dates as ISO text, tuples as lists, all the way down (a dict stays a dict)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _row_changes(
    old: Sequence[Row], new: Sequence[Row], kind: _Kind, shown: Sequence[str]
) -> tuple[list[Row], list[Row], list[tuple[int, int]]]:
    pairs = match_rows(old, new, ident=kind.ident, text=kind.text, anchor=kind.anchor)
    paired_new = set(pairs.values())
    added = [new[j] for j in range(len(new)) if j not in paired_new]
    removed = [old[i] for i in range(len(old)) if i not in pairs]
    return added, removed, sorted(pairs.items(), key=lambda p: p[1])


def diff(live: Plan | None, result: Plan, conflicts: Sequence[Conflict] = ()) -> Changes:
    """What approving `result` would change in `live` (None: there is no live schedule yet)."""
    new_a = [activity_row(a) for a in result.activities]
    new_r = [report_row(r) for r in result.reports]
    if live is None:
        return Changes(result.slug, True, added=tuple(new_a), reports_added=tuple(new_r),
                       conflicts=tuple(conflicts))  # fmt: skip
    old_a = [activity_row(a) for a in live.activities]
    added, removed, pairs = _row_changes(old_a, new_a, _ACTIVITIES, _SHOWN)
    redated, changed, renumbered, moved = [], [], [], 0
    for i, j in pairs:
        o, n = old_a[i], new_a[j]
        ident = (str(n.get("ref", "")), str(o.get("ref", "")))
        if any(o.get(k) != n.get(k) for k in _DATES):
            redated.append(RowChange(*ident, _DATES, o, n))
        keys = tuple(k for k in _differs(o, n, _groups(_ACTIVITIES, o, n)) if k not in _DATES)
        keys = tuple(k for k in keys if o.get(k) != n.get(k))
        if keys == ("ref",):  # renumbered after an insertion or removal: counted, not listed
            renumbered.append((ident[1], ident[0]))
        elif keys:
            changed.append(RowChange(*ident, keys, o, n))
        elif o.get("source_line") != n.get("source_line") and not any(
            o.get(k) != n.get(k) for k in _DATES
        ):
            moved += 1
    old_r = [report_row(r) for r in live.reports]
    r_added, r_removed, r_pairs = _row_changes(old_r, new_r, _REPORTS, ())
    r_changed = []
    for i, j in r_pairs:
        o, n = old_r[i], new_r[j]
        keys = tuple(k for k in sorted({*o, *n}, key=_key_order) if o.get(k) != n.get(k))
        if keys:
            r_changed.append(RowChange(str(n.get("id", "")), str(o.get("id", "")), keys, o, n))
    old_p, new_p = plan_row(live), plan_row(result)
    plan_fields = tuple(
        (k, old_p.get(k), new_p.get(k))
        for k in dict.fromkeys([*old_p, *new_p])
        if old_p.get(k) != new_p.get(k)
    )
    return Changes(
        result.slug,
        False,
        added=tuple(added),
        removed=tuple(removed),
        redated=tuple(redated),
        changed=tuple(changed),
        moved=moved,
        renumbered=tuple(renumbered),
        reports_added=tuple(r_added),
        reports_removed=tuple(r_removed),
        reports_changed=tuple(r_changed),
        plan_fields=plan_fields,
        conflicts=tuple(conflicts),
    )


_ORDER = {k: n for n, k in enumerate(k for g in _REPORT_GROUPS for k in g)}


def _key_order(key: str) -> tuple[int, str]:
    return (_ORDER.get(key, len(_ORDER)), key)
