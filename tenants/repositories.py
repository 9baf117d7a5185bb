"""Tenant-scoped queries. Every query here is filtered by the repository's tenant.

The HTTP layer never touches models directly for tenant data: it asks a repository, which
adds the tenant to every WHERE clause, so a resource of one tenant cannot be read,
changed or detected through another. Reads are bounded: a page of resources is one
query, its members one more, however large the tenant.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable, Mapping

from peewee import JOIN, OP, SQL, Expression, Field, IntegrityError, NodeList, Ordering, Select, Tuple, Value, fn

from . import positions, statistics
from .clock import utcnow
from .db import database, is_sqlite
from .keys import fold
from .models import Group, JSONField, Membership, Tenant, User, UserTally, new_id
from .prepared import Prepared, PreparedInsert, PreparedUpdate, chunks
from .records import RecordReader


class Duplicate(Exception):
    """A row would break a UNIQUE index; ``attribute`` names the SCIM attribute."""

    def __init__(self, attribute: str, value: str):
        self.attribute = attribute
        self.value = value
        super().__init__(f"{attribute} {value!r} is already in use")


class UnknownMembers(Exception):
    """Member ids that are not users of this tenant."""

    def __init__(self, ids: Iterable[str]):
        self.ids = sorted(ids)
        super().__init__(", ".join(self.ids))


def _unindexed(node):
    """``node`` in a form SQLite's planner uses no index for: ``+node``. SQLite's unary plus
    leaves any value as it is, and is its documented way to keep a term off the indexes
    (https://sqlite.org/optoverview.html, "Disqualifying WHERE clause terms using unary-+").

    Unchanged on PostgreSQL, which has no unary plus for text or timestamps and picks
    indexes by its statistics.
    """
    return NodeList((SQL("+"), node), glue="") if is_sqlite() else node


def _unindexed_ordering(term):
    """An ORDER BY term that SQLite cannot satisfy by walking an index (see :meth:`_Repository.page`)."""
    if isinstance(term, Ordering):
        return Ordering(_unindexed(term.node), term.direction, collation=term.collation, nulls=term.nulls)
    return _unindexed(term)


def _total_from_page(records: list, offset: int, limit: int) -> int | None:
    """How many rows match, if a page read at ``offset`` with ``limit`` tells: it does
    when the page is not full and holds rows, or is empty at the start; else ``None``."""
    if limit > 0 and len(records) < limit and (records or offset == 0):
        return offset + len(records)
    return None


def members_changed(group_ids: Iterable[str]) -> None:
    """Give each of these groups a new version and ``lastModified``: its members changed
    (a client's ETag of it must stop matching).

    On PostgreSQL the groups are locked in id order first: an UPDATE locks rows in the
    order its plan meets them, so two writers removing users who share groups could each
    hold one group and wait for the other's (a deadlock, answered 500). In one order, the
    second waits for the first. SQLite runs one write transaction at a time.
    """
    now = Group.last_modified.db_value(utcnow())
    for chunk in chunks(sorted(set(group_ids))):
        if not is_sqlite():
            _LOCK_GROUPS.execute(chunk)
        _BUMP_GROUPS.execute_later(chunk, now)  # locked: on PostgreSQL it goes with the next statement


def _as_stored(row):
    """``row`` with its JSON fields as they read back (keys sorted), so a write can be
    answered from the row it wrote without reading it again."""
    for field in row._meta.sorted_fields:
        if isinstance(field, JSONField):
            row.__data__[field.name] = field.python_value(field.db_value(row.__data__.get(field.name)))
    return row


class _Repository:
    model = None
    unique_column = ""
    unique_attribute = ""

    def __init__(self, tenant: Tenant):
        self.tenant = tenant

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)

        def by_id(tenant_id, resource_id):
            return cls.model.select().where(cls.tenant_scope(tenant_id) & (cls.model.id == resource_id)).limit(1)

        def live(tenant_id):
            return cls.model.select().where(cls.tenant_scope(tenant_id))

        # Read on every request that names a resource, or pages through all of them: SQL
        # built once (tenants.prepared).
        cls._by_id = Prepared(by_id, server_side=True)
        cls._by_id_for_update = Prepared(lambda tenant_id, resource_id: by_id(tenant_id, resource_id).for_update(),
                                         server_side=True)
        cls._count_all = Prepared(lambda tenant_id: live(tenant_id).select(fn.COUNT(SQL("*"))))
        cls._page_all = Prepared(lambda tenant_id, offset, limit: live(tenant_id).order_by(
            cls.model.created, cls.model.id).offset(offset).limit(limit))
        cls._equal_statements = {}  # field name -> (page, count) of live rows with field = value
        cls.records = RecordReader(cls.model)
        cls._insert = PreparedInsert(cls.model, unless_taken=(
            cls.model.tenant, getattr(cls.model, cls.unique_column + "_key")))
        cls._update = PreparedUpdate(cls.model)
        cls._delete_by_id = Prepared(lambda resource_id: cls.model.delete().where(cls.model.id == resource_id),
                                     server_side=True)

    @classmethod
    def tenant_scope(cls, tenant_id: int, unindexed: bool = False) -> Expression:
        """The condition that keeps a query to tenant ``tenant_id``'s resources.

        ``unindexed``: in a form that leads SQLite's planner to no paging index (see
        :meth:`page`); the tenant itself stays indexable.
        """
        return cls.model.tenant == tenant_id

    def scope(self, unindexed: bool = False) -> Expression:
        """The tenant condition every query of this repository carries (see :meth:`tenant_scope`)."""
        return self.tenant_scope(self.tenant.id, unindexed)

    @classmethod
    def _equal(cls, field: Field) -> tuple[Prepared, Prepared]:
        """``(page, count)`` of the live rows whose ``field`` equals a value, as :meth:`page`
        builds them for a selective filter, with their SQL built once per field."""
        statements = cls._equal_statements.get(field.name)
        if statements is None:
            def matching(tenant_id, value):  # called when a template is built, once per database kind
                return cls.model.select().where(cls.tenant_scope(tenant_id, unindexed=True) & (field == value))

            # Server-side on PostgreSQL only for a unique key (id, userName, displayName): one
            # generic plan is right for any value there, not for externalId (tenants.statements).
            unique = field.name in ("id", cls.unique_column + "_key")
            statements = cls._equal_statements[field.name] = (
                Prepared(lambda tenant_id, value, offset, limit: matching(tenant_id, value).order_by(
                    _unindexed(cls.model.created), _unindexed(cls.model.id)).offset(offset).limit(limit),
                    server_side=unique),
                Prepared(lambda tenant_id, value: matching(tenant_id, value).select(fn.COUNT(SQL("*")))),
            )
        return statements

    def _equal_lookup(self, where: Expression | None, order, selective: bool) -> tuple[Prepared, Prepared, tuple] | None:
        """``(page, count, arguments)`` when the list asks for the rows with one indexed
        column equal to a value (how an IdP looks a user or group up); else ``None``."""
        if (order is None and selective and isinstance(where, Expression) and where.op == OP.EQ
                and isinstance(where.lhs, Field) and where.lhs.model is self.model and isinstance(where.rhs, str)):
            page, count = self._equal(where.lhs)
            return page, count, (self.tenant.id, where.rhs)
        return None

    def _page_and_total(self, read_page: Callable, count: Callable[[], int], offset: int,
                        limit: int) -> tuple[int, list]:
        """:meth:`page` from ``read_page()`` (a cursor over the page) and, only when the page
        does not tell the total (:func:`_total_from_page`), ``count()``."""
        records = self.records.read(read_page()) if limit > 0 else []
        total = _total_from_page(records, offset, limit)
        return (count() if total is None else total), records

    def _run_prepared(self, page: Prepared, count: Prepared, arguments: tuple, offset: int,
                      limit: int) -> tuple[int, list]:
        """:meth:`page` through prepared statements taking ``arguments`` (then offset and limit)."""
        return self._page_and_total(lambda: page.execute(*arguments, offset, limit),
                                    lambda: count.execute(*arguments).fetchone()[0], offset, limit)

    def _page_everyone(self, offset: int, limit: int) -> tuple[int, list]:
        """:meth:`page` of every live resource, in creation order."""
        return self._run_prepared(self._page_all, self._count_all, (self.tenant.id,), offset, limit)

    def get(self, resource_id: str, for_update: bool = False):
        """The resource with ``resource_id`` in this tenant, or ``None``.

        ``for_update`` locks the row until the transaction ends (PostgreSQL; SQLite's
        IMMEDIATE transaction already holds the database's write lock), so concurrent
        writes to one resource apply one after the other and none is lost.
        """
        prepared = self._by_id_for_update if for_update and not is_sqlite() else self._by_id
        rows = prepared.execute(self.tenant.id, resource_id).fetchall()  # LIMIT 1: the statement ends
        return self.records.instance(rows[0]) if rows else None

    def page(self, where: Expression | None, offset: int, limit: int, order=None,
             selective: bool = False) -> tuple[int, list]:
        """``(total matching, records of one page)``: at most two queries, whatever the tenant's size.

        The page is read first; a page that is not full tells the total (everything
        before it, and what it holds), so only a full page, or an empty one past the
        start, also counts. A lookup by userName or externalId, as an IdP sends before
        each write, is one query.

        The rows are read-only records (:mod:`tenants.records`), not model instances. They
        come in creation order through the paging index unless ``order`` says
        otherwise. ``selective`` says that ``where`` pins a few rows through an index of its
        own (:func:`gateway.scim.filter_sql.selective`): then SQLite, which has no
        statistics, is kept off the paging index, which matches ORDER BY and which it
        would otherwise walk through the whole tenant. PostgreSQL's planner chooses that by
        its statistics (checked in ``tests/test_query_plans.py``).
        """
        if where is None and order is None:  # SQL built once (tenants.prepared)
            return self._page_everyone(offset, limit)
        equal = self._equal_lookup(where, order, selective)
        if equal is not None:
            return self._run_prepared(*equal, offset, limit)
        scope = self.scope(unindexed=selective)
        condition = scope if where is None else scope & where
        query = self.model.select().where(condition)
        order = order if order is not None else (self.model.created, self.model.id)
        if selective:
            order = [_unindexed_ordering(term) for term in order]
        return self._page_and_total(
            lambda: database.execute_sql(*query.order_by(*order).offset(offset).limit(limit).sql()),
            query.count, offset, limit)

    def _with_key(self, fields: dict) -> dict:
        if self.unique_column in fields:
            fields = {**fields, self.unique_column + "_key": fold(fields[self.unique_column])}
        return fields

    def _name_taken(self, name: str, other_than: str | None = None) -> bool:
        key_column = getattr(self.model, self.unique_column + "_key")
        query = self.model.select(self.model.id).where(self.scope() & (key_column == fold(name)))
        if other_than is not None:
            query = query.where(self.model.id != other_than)
        return query.exists()

    def create(self, fields: dict):
        """Insert a resource; :class:`Duplicate` if its unique name is taken in this tenant.

        One statement: a taken name inserts nothing (``ON CONFLICT ... DO NOTHING``)
        rather than failing, so PostgreSQL needs no savepoint around it.
        """
        now = utcnow()
        fields = self._with_key(fields)
        row = self.model(id=new_id(), tenant=self.tenant.id, created=now, last_modified=now, version=1, **fields)
        if not self._insert.save(row):
            raise Duplicate(self.unique_attribute, fields[self.unique_column])
        statistics.added(self.model._meta.table_name, 1)
        return _as_stored(row)

    def update(self, row, fields: dict):
        """Write changed ``fields`` of ``row``, bumping ``version`` and ``lastModified``.

        ``row`` is left as a fresh read would return it. :class:`Duplicate` if it is
        renamed to a name another resource of this tenant has.
        """
        for name, value in self._with_key(fields).items():
            if getattr(row, name) != value:
                setattr(row, name, value)
        self.touch(row)
        if self.unique_column + "_key" not in row._dirty:  # not renamed: no UNIQUE index can object
            self.save_changes_later(row)
            return _as_stored(row)
        # Renamed. On PostgreSQL in a savepoint, so that after the violation the transaction
        # can still ask why (it refuses queries in an aborted transaction). SQLite undoes
        # only the failed statement, so there the transaction goes on without one.
        try:
            if is_sqlite():
                self.save_changes(row)
            else:
                with database.atomic():
                    self.save_changes(row)
        except IntegrityError:
            if self._name_taken(getattr(row, self.unique_column), row.id):
                raise Duplicate(self.unique_attribute, getattr(row, self.unique_column)) from None
            raise
        return _as_stored(row)

    def save_changes(self, row) -> None:
        """UPDATE only the columns of ``row`` set since it was read (SQL built once per set)."""
        self._update.save(row)

    def save_changes_later(self, row) -> None:
        """As :meth:`save_changes` when no UNIQUE column of ``row`` changed, so the UPDATE
        cannot be refused for a duplicate: on PostgreSQL it goes with the transaction's
        next statement (:mod:`tenants.round_trips`)."""
        self._update.save_later(row)

    @staticmethod
    def touch(row) -> None:
        """Mark ``row`` changed: a new version and lastModified (saved by the caller)."""
        row.version += 1
        row.last_modified = utcnow()

    def delete(self, row) -> None:
        """Delete ``row`` (memberships go with it by ON DELETE CASCADE and explicitly); on
        PostgreSQL the DELETE goes with the transaction's next statement."""
        self._delete_by_id.execute_later(row.id)


class UserRepository(_Repository):
    """Users of one tenant. Tombstoned users (``deleted_at`` set) are invisible here."""

    model = User
    unique_column = "user_name"
    unique_attribute = "userName"
    TOMBSTONE_KEY_PREFIX = "~deleted~"

    @classmethod
    def tenant_scope(cls, tenant_id: int, unindexed: bool = False) -> Expression:
        """Tenant ``tenant_id``'s users that are not tombstones; ``unindexed``: without
        offering SQLite the live-users paging index (or any other index on ``deleted_at``)."""
        deleted_at = _unindexed(User.deleted_at) if unindexed else User.deleted_at
        return (User.tenant == tenant_id) & deleted_at.is_null()

    def _page_everyone(self, offset: int, limit: int) -> tuple[int, list]:
        """:meth:`page` of every live user: the total from the tally the database keeps
        (migration 0010) rather than a count, and a deep page from the nearest anchor
        (:mod:`tenants.positions`) rather than from the first user. Two short queries
        (a third, over the tenant, when a deep page finds its anchors out of date)."""
        live, changes = (int(value) for value in _USER_TALLY.execute(self.tenant.id).fetchone())
        if limit <= 0 or offset >= live:
            return live, []
        # Keyed by the tenant's id and creation time: SQLite may give a new tenant a deleted one's id.
        start = positions.start((self.tenant.id, self.tenant.created), changes, offset, self._anchors)
        if start is None:
            rows = self._page_all.execute(self.tenant.id, offset, limit)
        else:
            position, (created, user_id) = start
            rows = _LIVE_USERS_AFTER.execute(self.tenant.id, created, user_id, offset - position, limit)
        return live, self.records.read(rows)

    def _anchors(self) -> tuple[list[tuple], int]:
        """The paging key of every ``positions.SPACING``-th live user, and the tally's
        ``changes`` after reading them."""
        anchors = [tuple(row) for row in _ANCHORS.execute(self.tenant.id, positions.SPACING).fetchall()]
        return anchors, int(_USER_TALLY.execute(self.tenant.id).fetchone()[1])

    def _leave_groups(self, row) -> None:
        """Remove the user's memberships, bumping each group's version (:func:`members_changed`)."""
        members_changed(group_id for (group_id,) in _GROUPS_OF_USER.execute(row.id))
        _LEAVE_GROUPS.execute_later(row.id)

    def delete(self, row) -> None:
        """Delete a user with its memberships, roles and permissions (ON DELETE CASCADE)."""
        self._leave_groups(row)
        super().delete(row)

    def tombstone(self, row) -> None:
        """Hide a user from SCIM and free its userName, keeping the row until the sweep."""
        self._leave_groups(row)
        now = utcnow()
        (User.update(deleted_at=now, active=False, disabled_at=fn.COALESCE(User.disabled_at, now),
                     user_name_key=self.TOMBSTONE_KEY_PREFIX + row.id, version=User.version + 1,
                     last_modified=now)
         .where(User.id == row.id).execute())

    def disable(self, ids: Iterable[str]) -> int:
        """Set ``active`` false on these users (those not disabled yet); one UPDATE."""
        ids = sorted(set(ids))
        now = utcnow()
        changed = 0
        for start in range(0, len(ids), 500):
            changed += (
                User.update(active=False, disabled_at=now, version=User.version + 1, last_modified=now)
                .where(self.scope() & User.id.in_(ids[start:start + 500])
                       & ((User.active.is_null()) | (User.active == True)))  # noqa: E712
                .execute()
            )
        return changed

    def existing_ids(self, ids: Iterable[str], lock: bool = False) -> set[str]:
        """Which of ``ids`` are users of this tenant: one query on the primary key per 512 ids.

        The tenant and tombstone conditions are checked in Python on the (at most
        ``len(ids)``) rows found: put in SQL, SQLite's planner preferred an index on
        the tenant and scanned the whole tenant.

        ``lock`` (PostgreSQL): hold a share lock on these users, taken in id order, until
        the transaction ends, so a concurrent delete or tombstone either finishes first
        (and the user is reported missing) or waits until this transaction is done.
        SQLite runs one write transaction at a time and needs none.
        """
        prepared = _USERS_AMONG_LOCKED if lock and not is_sqlite() else _USERS_AMONG
        found = set()
        for chunk in chunks(sorted(set(ids))):
            found.update(user_id for user_id, tenant_id, deleted_at in prepared.execute(chunk).fetchall()
                         if tenant_id == self.tenant.id and deleted_at is None)
        return found


# The paging of all live users (UserRepository._page_everyone).
_USER_TALLY = Prepared(lambda tenant_id: UserTally.select(
    fn.COALESCE(fn.SUM(UserTally.live), 0), fn.COALESCE(fn.SUM(UserTally.changes), 0))
    .where(UserTally.tenant_id == tenant_id))
_LIVE_USERS_AFTER = Prepared(lambda tenant_id, created, user_id, skip, limit: User.select().where(
    UserRepository.tenant_scope(tenant_id) & (Tuple(User.created, User.id) > Tuple(created, user_id)))
    .order_by(User.created, User.id).offset(skip).limit(limit))


def _every_nth_live_user(tenant_id, spacing):
    position = fn.ROW_NUMBER().over(order_by=[User.created, User.id])
    numbered = (User.select(User.created, User.id, position.alias("position"))
                .where(UserRepository.tenant_scope(tenant_id)).alias("numbered"))
    every = numbered.c.position
    return (Select([numbered], [numbered.c.created, numbered.c.id]).where((every / spacing) * spacing == every)
            .order_by(every).bind(database))


_ANCHORS = Prepared(_every_nth_live_user)


# Statements of every member PATCH, with their SQL built once (tenants.prepared) and their
# rows read as the driver returns them: peewee building them was most of the CPU of adding
# 50 members to a group.
def _users_among(ids):
    return User.select(User.id, User.tenant, User.deleted_at).where(User.id.in_(ids))


_USERS_AMONG = Prepared(_users_among)
_USERS_AMONG_LOCKED = Prepared(lambda ids: _users_among(ids).order_by(User.id).for_update("FOR SHARE"))
_MEMBERS_AMONG = Prepared(lambda group_id, ids: Membership.select(Membership.user)
                          .where((Membership.group == group_id) & Membership.user.in_(ids)))
_MEMBER_AFTER = Prepared(lambda group_id, skip: Membership.select(Membership.user)
                         .where(Membership.group == group_id).offset(skip).limit(1))
_GROUPS_OF_USER = Prepared(lambda user_id: Membership.select(Membership.group).where(Membership.user == user_id))
_LEAVE_GROUPS = Prepared(lambda user_id: Membership.delete().where(Membership.user == user_id))
_EMPTY_GROUP = Prepared(lambda group_id: Membership.delete().where(Membership.group == group_id))
# members_changed(): lock (PostgreSQL) then bump groups, in chunks of ids.
_LOCK_GROUPS = Prepared(lambda ids: Group.select(Group.id).where(Group.id.in_(ids)).order_by(Group.id).for_update())
_BUMP_GROUPS = Prepared(lambda ids, now: Group.update(
    version=Group.version + 1, last_modified=Value(now, converter=False)).where(Group.id.in_(ids)))
_INSERT_MEMBERS = Prepared(lambda group_id, user_ids, displays: Membership.insert_many(
    [{"group": group_id, "user": user_id, "display": display} for user_id, display in zip(user_ids, displays)]
).on_conflict_ignore())


class GroupRepository(_Repository):
    """Groups of one tenant and their memberships."""

    model = Group
    unique_column = "display_name"
    unique_attribute = "displayName"

    def delete(self, row) -> None:
        """Delete a group and its memberships."""
        _EMPTY_GROUP.execute_later(row.id)
        super().delete(row)

    def members(self, group_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """``{group id: [(user id, display), ...]}`` for a page of groups: one query.

        ``display`` is what the client sent for the member, else the user's userName.
        """
        group_ids = list(group_ids)
        result: dict[str, list[tuple[str, str]]] = defaultdict(list)
        if not group_ids:
            return result
        query = (
            Membership.select(Membership.group, User.id, fn.COALESCE(Membership.display, User.user_name))
            .join(User, JOIN.INNER, on=(Membership.user == User.id))
            .where(Membership.group.in_(group_ids))
            .order_by(Membership.group, User.user_name_key)
        )
        # The driver's rows as they are (three strings each): a group answers with up to
        # 1,000 members, and peewee's per-row conversion was half of reading them.
        for group_id, user_id, display in database.execute(query).fetchall():
            result[group_id].append((user_id, display))
        return result

    def add_members(self, group: Group, members: Mapping[str, str | None]) -> set[str]:
        """Add users (``{user id: display or None}``) to ``group``; returns the ids that were new.

        Touches only these rows; existing members are left as they are.

        :raises UnknownMembers: if any id is not a user of this tenant.
        """
        wanted = set(members)
        if not wanted:
            return set()
        # Members already in the group are users of the tenant (deleting or tombstoning a
        # user removes its memberships); the new ones are checked and locked against a
        # concurrent delete, which would otherwise leave a membership of a removed user.
        new = wanted - self.member_ids(group, among=wanted)
        found = UserRepository(self.tenant).existing_ids(new, lock=True)
        if found != new:
            raise UnknownMembers(new - found)
        for chunk in chunks(sorted(new)):
            _INSERT_MEMBERS.execute_later(group.id, chunk, [members[user_id] for user_id in chunk])
        statistics.added(Membership._meta.table_name, len(new))
        return new

    def _remove(self, group: Group, condition: Expression | None) -> list[str]:
        """Delete the memberships of ``group`` matching ``condition``; return their user ids."""
        where = Membership.group == group.id
        if condition is not None:
            where = where & condition
        removed = [row.user_id for row in Membership.select(Membership.user).where(where)]
        for start in range(0, len(removed), 500):
            chunk = removed[start:start + 500]
            Membership.delete().where((Membership.group == group.id) & Membership.user.in_(chunk)).execute()
        return removed

    def remove_members(self, group: Group, user_ids: Iterable[str]) -> list[str]:
        """Remove users from ``group``; returns those that were members."""
        ids = list(set(user_ids))
        return self._remove(group, Membership.user.in_(ids)) if ids else []

    def replace_members(self, group: Group, members: Mapping[str, str | None]) -> tuple[set[str], list[str]]:
        """Make ``members`` exactly the members of ``group``; returns ``(ids added, ids removed)``."""
        removed = self._remove(group, Membership.user.not_in(list(members)) if members else None)
        return self.add_members(group, members), removed

    def remove_members_where(self, group: Group, condition_for: Callable[[type], Expression]) -> list[str]:
        """Remove the members of ``group`` matching a condition; returns their user ids.

        ``condition_for(member)`` builds the condition over ``member`` (an alias of the
        membership table, joined to ``User``).
        """
        member = Membership.alias()
        matching = (
            member.select(member.user)
            .join(User, on=(member.user == User.id))
            .where((member.group == group.id) & condition_for(member))
        )
        return self._remove(group, Membership.user.in_(matching))

    def member_ids(self, group: Group, among: Iterable[str] | None = None) -> set[str]:
        """The ids of ``group``'s members, optionally only those in ``among`` (bounded)."""
        if among is None:
            return {row.user_id for row in Membership.select(Membership.user).where(Membership.group == group.id)}
        found = set()
        for chunk in chunks(sorted(set(among))):
            found.update(user_id for (user_id,) in _MEMBERS_AMONG.execute(group.id, chunk).fetchall())
        return found

    def has_more_members_than(self, group: Group, limit: int) -> bool:
        """True if ``group`` has more than ``limit`` members (reads at most ``limit + 1`` index entries)."""
        return _MEMBER_AFTER.execute(group.id, limit).fetchone() is not None
