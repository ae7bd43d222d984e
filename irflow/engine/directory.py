"""The organisation directory: who exists, which tier, whose coordinator.

The directory is data (a CSV file, bundled under ``irflow/flows/`` or imported by
the user); this module parses and validates it, keeps it in the database
(``Directory``), and finds organisations the way the information sharing site's
データ検索 does ("starts with" or "equals"). What each type and tier may do, and
whose coordinator is whom, is data too (``irflow/flows/tiers.yaml``, read by
``irflow.engine.tiers``); ``above`` finds the one of a type above an organisation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irflow.engine import tiers
from irflow.engine.tiers import COORDINATOR_TYPES as COORDINATOR_TYPES
from irflow.engine.tiers import OrgType as OrgType
from irflow.engine.tiers import Tier as Tier
from irflow.errors import AmbiguousName, InvalidInput, NotFound

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SAEngine

    from irflow.engine.ledger import Ledger
    from irflow.engine.tables import OrganisationRow


@dataclass(frozen=True, kw_only=True)
class Organisation:
    """One organisation of the directory."""

    id: str
    name: str
    type: OrgType
    tier: Tier
    prefecture: str | None = field(default=None, metadata={"reference": True})
    """The id of the parent prefecture, for a municipality."""
    code: str | None = None
    """全国地方公共団体コード: six digits, the last a check digit."""
    competent_ministry: str | None = field(default=None, metadata={"reference": True})
    """The id of the 所管府省 of a national agency or aggregation agency."""
    daytime_phone: str | None = None
    emergency_phone: str | None = None
    mail: str | None = None
    note: str | None = None

    def as_ref(self) -> dict[str, str]:
        """The short form used in JSON output."""
        return {"id": self.id, "name": self.name}

    def as_dict(self) -> dict[str, str | None]:
        return {k: (str(v) if v is not None else None) for k, v in asdict(self).items()}


COLUMNS = tuple(f.name for f in fields(Organisation))
REQUIRED = ("id", "name", "type", "tier")
"""The columns every organisation of a directory CSV has a value in."""
REFERENCES = tuple(f.name for f in fields(Organisation) if f.metadata.get("reference"))
"""The columns in which an organisation names another (its prefecture, its ministry)."""
tiers.BUNDLED.check_columns(REFERENCES)


def local_government_check_digit(first_five: str) -> str:
    """The check digit of a 全国地方公共団体コード (weights 6, 5, 4, 3, 2; modulus 11)."""
    total = sum(int(d) * w for d, w in zip(first_five, (6, 5, 4, 3, 2), strict=True))
    return str((11 - total % 11) % 10)


def validate_code(code: str) -> str | None:
    """Return why ``code`` is not a valid local government code, or None if it is."""
    if len(code) != 6 or not code.isdigit():
        return f"local government code {code!r} must be six digits"
    expected = local_government_check_digit(code[:5])
    if code[5] != expected:
        return f"local government code {code!r} has check digit {code[5]}, expected {expected}"
    return None


def parse_csv(text: str, *, source: str = "<csv>") -> list[Organisation]:
    """Parse and validate a directory CSV; every error names the line and the fix."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidInput(
            f"{source}: the header lacks column(s) {', '.join(missing)}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"{source}: unknown column(s) {', '.join(unknown)}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    orgs: list[Organisation] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        values = {k: (v.strip() if v else None) or None for k, v in row.items() if k}
        where = f"{source}:{line}"
        org_id, name = values.get("id"), values.get("name")
        if not org_id or not name:
            raise InvalidInput(f"{where}: every organisation needs an id and a name")
        if org_id in seen:
            raise InvalidInput(f"{where}: id {org_id!r} is used already on line {seen[org_id]}")
        seen[org_id] = line
        try:
            org_type = OrgType(values.get("type") or "")
        except ValueError:
            choices = ", ".join(t.value for t in OrgType)
            raise InvalidInput(
                f"{where}: type {values.get('type')!r} is unknown; use one of {choices}"
            ) from None
        try:
            tier = Tier(values.get("tier") or "")
        except ValueError:
            choices = ", ".join(t.value for t in Tier)
            raise InvalidInput(
                f"{where}: tier {values.get('tier')!r} is unknown; use one of {choices}"
            ) from None
        code = values.get("code")
        if code is not None and (problem := validate_code(code)):
            raise InvalidInput(f"{where}: {problem}")
        optional = {column: values.get(column) for column in COLUMNS if column not in REQUIRED}
        orgs.append(Organisation(id=org_id, name=name, type=org_type, tier=tier, **optional))
    return orgs


def check_references(orgs: Iterable[Organisation], known_ids: Iterable[str] = ()) -> None:
    """Refuse references to organisations that exist neither here nor in ``known_ids``."""
    orgs = list(orgs)
    ids = {o.id for o in orgs} | set(known_ids)
    for org in orgs:
        for column in REFERENCES:
            ref = getattr(org, column)
            if ref is not None and ref not in ids:
                raise InvalidInput(
                    f"organisation {org.id!r}: {column} {ref!r} is not in the directory; "
                    "add that organisation first or correct the id"
                )


def bundled_csv_text() -> str:
    """The bundled sample directory (contacts are visibly sample values)."""
    return resources.files("irflow.flows").joinpath("organisations.csv").read_text("utf-8")


def load_bundled() -> list[Organisation]:
    return parse_csv(bundled_csv_text(), source="irflow/flows/organisations.csv")


def read_csv_file(path: Path) -> list[Organisation]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"no file {str(path)!r}; give the path of a directory CSV") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder; give the path of a directory CSV") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8; save the CSV as UTF-8 and try again") from None
    return parse_csv(text, source=str(path))


def match(orgs: Sequence[Organisation], text: str, *, exact: bool) -> list[Organisation]:
    """データ検索: organisations whose name (or id or code) starts with, or equals, ``text``."""
    needle = text.strip()
    if exact:
        return [o for o in orgs if needle in (o.name, o.id, o.code)]
    return [
        o
        for o in orgs
        if o.name.startswith(needle) or o.id.startswith(needle) or (o.code or "").startswith(needle)
    ]


class Directory:
    """The organisations stored in the database, read once and re-read when one is
    missing (another process may have imported it)."""

    def __init__(self, ledger: Ledger, sa: SAEngine, *, ready: Callable[[], None]) -> None:
        self._ledger = ledger
        self._sa = sa
        self._ready = ready
        self._orgs: dict[str, Organisation] | None = None

    def organisations(self) -> dict[str, Organisation]:
        if self._orgs is None:
            self._ready()
            self._orgs = {r[0]: _from_tuple(r) for r in self._ledger.read("organisations")}
        return self._orgs

    def forget(self) -> None:
        """Read the directory again at the next look-up."""
        self._orgs = None

    def by_id(self, org_id: str) -> Organisation:
        """The organisation with this id; the directory is re-read once if another
        process added it since this engine loaded it."""
        org = self.organisations().get(org_id)
        if org is None:
            self._orgs = None
            org = self.organisations().get(org_id)
        if org is None:
            raise NotFound(f"no organisation with id {org_id!r} in the directory")
        return org

    def find(self, ref: str) -> Organisation:
        """Find an organisation by id, local government code, or an unambiguous name."""
        orgs = self.organisations()
        needle = ref.strip()
        if needle in orgs:
            return orgs[needle]
        by_code = [o for o in orgs.values() if o.code == needle]
        if by_code:
            return by_code[0]
        exact = [o for o in orgs.values() if o.name == needle]
        candidates = exact or [o for o in orgs.values() if o.name.startswith(needle)]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise AmbiguousName(ref, [f"{o.name} ({o.id})" for o in candidates])
        raise NotFound(
            f"no organisation {ref!r} in the directory; find it with `irflow org search "
            f"{needle[:2] or 'TEXT'}` and give its id or code"
        )

    def name(self, org_id: str) -> str:
        """The organisation's name, or its id if the directory does not hold it."""
        org = self.organisations().get(org_id)
        return org.name if org else org_id

    def search(self, text: str, *, exact: bool = False) -> list[Organisation]:
        """データ検索: by name (or id or code) starting with ``text``, or equal to it."""
        return match(list(self.organisations().values()), text, exact=exact)

    def add_bundled(self) -> int:
        """Add the bundled organisations the database lacks; how many were added."""
        from sqlmodel import Session, select

        from irflow.engine.tables import OrganisationRow

        with Session(self._sa) as session:
            present = set(session.exec(select(OrganisationRow.id)).all())
            added = [o for o in load_bundled() if o.id not in present]
            for org in added:
                session.add(_row(org))
            session.commit()
        self._orgs = None
        return len(added)

    def import_file(self, path: Path) -> tuple[int, int]:
        """Load a directory CSV: add new organisations, update known ones (by id)."""
        from sqlmodel import Session

        from irflow.engine.tables import OrganisationRow

        orgs = read_csv_file(path)
        check_references(orgs, known_ids=self.organisations().keys())
        added = updated = 0
        with Session(self._sa) as session:
            for org in orgs:
                existing = session.get(OrganisationRow, org.id)
                if existing is None:
                    session.add(_row(org))
                    added += 1
                else:
                    for key, value in org.as_dict().items():
                        setattr(existing, key, value)
                    updated += 1
            session.commit()
        self._orgs = None
        return added, updated

    def operator(self) -> Organisation:
        """The one organisation of the type that operates the network (tiers.yaml)."""
        kind = tiers.OPERATING_TYPE
        operators = [o for o in self.organisations().values() if o.type is kind]
        if len(operators) != 1:
            raise InvalidInput(
                f"the directory must hold exactly one {kind} organisation, it holds "
                f"{len(operators)}; fix it with `irflow org import`"
            )
        return operators[0]

    def default_coordinator(self, reporter: Organisation) -> Organisation | None:
        """A municipality's prefecture, a prefecture's J-LIS, a national agency's ministry:
        the one of the type tiers.yaml says coordinates the reporter's type (its
        ``coordinated_by``), found by ``above``."""
        kind = tiers.TYPES[reporter.type].coordinated_by
        return above(reporter, OrgType(kind), self.organisations()) if kind else None


def above(
    org: Organisation, kind: OrgType, orgs: Mapping[str, Organisation]
) -> Organisation | None:
    """The organisation of type ``kind`` above ``org``: the one ``org``'s row names in
    the column tiers.yaml gives that type (its ``named_by``: a municipality's
    prefecture), if the directory holds it; for a type no column names, the only one of
    that type (the first by id, if several), never ``org`` itself. None if there is none."""
    column = tiers.TYPES[kind].named_by
    if column is not None:
        ref = getattr(org, column)
        return orgs.get(ref) if ref is not None else None
    found = sorted(o.id for o in orgs.values() if o.type is kind and o.id != org.id)
    return orgs[found[0]] if found else None


def _row(org: Organisation) -> OrganisationRow:
    from irflow.engine.tables import OrganisationRow

    return OrganisationRow.model_validate(org.as_dict())


def _from_tuple(row: tuple[Any, ...]) -> Organisation:
    (org_id, name, type_, tier, prefecture, code, ministry, daytime, emergency, mail,
     note) = row  # fmt: skip
    return Organisation(
        id=org_id,
        name=name,
        type=OrgType(type_),
        tier=Tier(tier),
        prefecture=prefecture,
        code=code,
        competent_ministry=ministry,
        daytime_phone=daytime,
        emergency_phone=emergency,
        mail=mail,
        note=note,
    )
