"""SQLite storage for the tables its metadata defines: schema, row writes, versions, transactions."""

from __future__ import annotations

import itertools
import json
import secrets
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import DUPLICATE_KEY, DUPLICATE_RECORD, DataverseFault
from .registry import PRIVILEGE_VERBS, Registry, shipped_metadata
from .schema import BOOLEAN, CHOICE, DECIMAL, INTEGER, LOOKUP, MONEY, Column, Table
from .values import now_utc

# standard messages every org has (the registration CLI looks some of them up)
STANDARD_MESSAGES = (
    "Create", "Update", "Delete", "Retrieve", "RetrieveMultiple", "Associate", "Disassociate",
    "SetState", "CreateMultiple", "UpdateMultiple", "UpsertMultiple",
)
ROOT_BUSINESS_UNIT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "local-dataverse:business-unit"))

_SQL_TYPE = {
    INTEGER: "INTEGER",
    CHOICE: "INTEGER",
    BOOLEAN: "INTEGER",
    DECIMAL: "TEXT",
    MONEY: "TEXT",
}


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return f'"{name}"'


def _column_sql(col: Column, primary: bool) -> str:
    sql_type = _SQL_TYPE.get(col.type, "TEXT")
    collate = " COLLATE NOCASE" if sql_type == "TEXT" and col.type not in (DECIMAL, MONEY) else ""
    return f"{q(col.name)} {sql_type}{collate}{' PRIMARY KEY' if primary else ''}"


class Store:
    """One SQLite database (a file or `:memory:`) guarded by a re-entrant lock."""

    def __init__(self, path: str = ":memory:", template: str | None = None):
        self.path = path
        if path != ":memory:" and not path.startswith("file:"):
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._depth = 0
        self._sql_cache: dict[tuple, str] = {}
        if template is not None:  # start as a copy of another database (a provisioned one)
            source = sqlite3.connect(template)
            try:
                source.backup(self._conn)
            finally:
                source.close()
            self._conn.execute(
                'DELETE FROM "_meta" WHERE "name" IN (\'token_secret\', \'rsa_signing_key\')'
            )
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        with self.transaction():
            self.registry = self._load_registry()
            self._create_schema(self.registry.tables.values())
            self._seed_messages()
            self._seed_security(list(self.registry.by_logical))
        self._versions = itertools.count(self._max_version() + 1)

    # ----- schema -------------------------------------------------------------------------
    @property
    def tables(self) -> dict[str, Table]:
        """The tables this store's metadata defines, by entity set."""
        return self.registry.tables

    @property
    def by_logical(self) -> dict[str, Table]:
        """The same tables by logical name."""
        return self.registry.by_logical

    def _load_registry(self) -> Registry:
        conn = self._conn
        conn.execute('CREATE TABLE IF NOT EXISTS "_meta" ("name" TEXT PRIMARY KEY, "value" TEXT)')
        conn.execute(
            'CREATE TABLE IF NOT EXISTS "_metadata" ("name" TEXT PRIMARY KEY, "body" TEXT)'
        )
        rows = conn.execute('SELECT "name", "body" FROM "_metadata"').fetchall()
        if rows:
            entities = [json.loads(b) for n, b in rows if n.startswith("entity:")]
            relationships = [json.loads(b) for n, b in rows if n.startswith("relationship:")]
        else:
            entities, relationships = shipped_metadata()
        registry = Registry(entities, relationships, self._metadata_changed)
        if not rows:
            self._persist(registry)
        return registry

    def _persist(self, registry: Registry) -> None:
        snapshot = registry.snapshot()
        stored = dict(self._conn.execute('SELECT "name", "body" FROM "_metadata"').fetchall())
        for name, body in snapshot.items():
            if stored.get(name) != body:
                self._conn.execute(
                    'INSERT OR REPLACE INTO "_metadata" ("name", "body") VALUES (?, ?)', (name, body)
                )

    def _metadata_changed(self, registry: Registry, logicals: list[str]) -> None:
        with self.transaction():
            self._persist(registry)
            self._create_schema(registry.by_logical[n] for n in logicals)
            self._seed_security(logicals)
            self._sql_cache.clear()

    def _create_schema(self, tables) -> None:
        conn = self._conn
        for table in tables:
            cols = list(table.columns.values())
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {q(table.entity_set)} ("
                + ", ".join(_column_sql(c, c.name == table.primary_id) for c in cols)
                + ")"
            )
            existing = {r[1] for r in conn.execute(f"PRAGMA table_info({q(table.entity_set)})")}
            for col in cols:
                if col.name not in existing:  # an older database file: add what is new
                    conn.execute(
                        f"ALTER TABLE {q(table.entity_set)} ADD COLUMN {_column_sql(col, False)}"
                    )
            for col in cols:
                if col.type == LOOKUP:
                    conn.execute(
                        "CREATE INDEX IF NOT EXISTS "
                        f"{q('ix_' + table.entity_set + '_' + col.name)} "
                        f"ON {q(table.entity_set)} ({q(col.name)})"
                    )
            for key, key_cols in table.alternate_keys.items():
                conn.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {q('ak_' + table.entity_set + '_' + key)} "
                    f"ON {q(table.entity_set)} ({', '.join(q(c) for c in key_cols)})"
                )
            for nav in table.many_to_many.values():
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {q(nav.intersect)} ({q(nav.own)} TEXT, "
                    f'{q(nav.other)} TEXT, "depth" TEXT, PRIMARY KEY ({q(nav.own)}, {q(nav.other)}))'
                )
        for entity_set, column in (("systemusers", "azureactivedirectoryobjectid"),
                                   ("sdkmessages", "name"), ("privileges", "name")):
            if entity_set in self.registry.tables:
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {q('ix_' + entity_set + '_' + column)} "
                    f"ON {q(entity_set)} ({q(column)})"
                )

    def _seed_security(self, logicals: list[str]) -> None:
        """The root business unit, and each table's privileges (prvCreate<SchemaName>, …)."""
        stamp = now_utc()
        units = self.registry.tables.get("businessunits")
        if units is not None and not self._conn.execute(
            'SELECT 1 FROM "businessunits" LIMIT 1'
        ).fetchone():
            self.insert(units, {"businessunitid": ROOT_BUSINESS_UNIT_ID, "name": "Local Org",
                                "createdon": stamp, "modifiedon": stamp, "versionnumber": 1})
        privileges = self.registry.tables.get("privileges")
        if privileges is None:
            return
        for logical in logicals:
            schema = self.registry.by_logical[logical].schema_name
            for verb, right in PRIVILEGE_VERBS.items():
                name = f"prv{verb}{schema}"
                ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"privilege:{name.lower()}"))
                self._conn.execute(
                    'INSERT OR IGNORE INTO "privileges" ("privilegeid", "name", "accessright", '
                    '"canbebasic", "canbelocal", "canbedeep", "canbeglobal", "createdon", '
                    '"modifiedon", "versionnumber") VALUES (?, ?, ?, 1, 1, 1, 1, ?, ?, 1)',
                    (ident, name, right, stamp, stamp),
                )

    def _seed_messages(self) -> None:
        if self._conn.execute('SELECT 1 FROM "sdkmessages" LIMIT 1').fetchone():
            return
        stamp = now_utc()
        for name in STANDARD_MESSAGES:
            ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sdkmessage:{name}"))
            self._conn.execute(
                'INSERT INTO "sdkmessages" ("sdkmessageid", "name", "categoryname", "isprivate", '
                '"isreadonly", "createdon", "modifiedon", "versionnumber") '
                "VALUES (?, ?, 'Standard', 0, 0, ?, ?, 1)",
                (ident, name, stamp, stamp),
            )

    def _max_version(self) -> int:
        parts = " UNION ALL ".join(
            f'SELECT MAX("versionnumber") FROM {q(t.entity_set)}' for t in self.tables.values()
        )
        return max((r[0] or 0 for r in self._conn.execute(parts)), default=0)

    # ----- transactions -------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        """All-or-nothing: commit on success, roll back all on an exception (nests as savepoints)."""
        with self.lock:
            depth = self._depth
            self._conn.execute("BEGIN" if depth == 0 else f"SAVEPOINT sp{depth}")
            self._depth = depth + 1
            try:
                yield self
            except BaseException:
                self._depth = depth
                if depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO sp{depth}")
                    self._conn.execute(f"RELEASE sp{depth}")
                raise
            self._depth = depth
            self._conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self._conn.close()

    # ----- counters -----------------------------------------------------------------------
    def next_version(self) -> int:
        """A new row version (the ETag number), increasing across the whole database."""
        return next(self._versions)

    def meta(self, name: str, default: str | None = None) -> str | None:
        """A stored setting."""
        with self.lock:
            row = self._conn.execute(
                'SELECT "value" FROM "_meta" WHERE "name" = ?', (name,)
            ).fetchone()
        return row[0] if row else default

    def set_meta(self, name: str, value: str) -> None:
        """Store a setting."""
        with self.lock:
            self._conn.execute(
                'INSERT OR REPLACE INTO "_meta" ("name", "value") VALUES (?, ?)', (name, value)
            )

    def secret(self) -> str:
        """A per-database random secret (signs issued tokens, so they survive a restart)."""
        with self.lock:
            value = self.meta("token_secret")
            if value is None:
                value = secrets.token_hex(32)
                self.set_meta("token_secret", value)
            return value

    def next_number(self, name: str) -> int:
        """The next value of a named counter (inside the caller's transaction)."""
        row = self._conn.execute('SELECT "value" FROM "_meta" WHERE "name" = ?', (name,)).fetchone()
        value = int(row[0]) + 1 if row else 1
        self._conn.execute(
            'INSERT OR REPLACE INTO "_meta" ("name", "value") VALUES (?, ?)', (name, str(value))
        )
        return value

    # ----- rows ---------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a SELECT."""
        with self.lock:
            return self._conn.execute(sql, params).fetchall()

    def fetch(self, table: Table, ident: str) -> dict[str, Any] | None:
        """One row by primary id, as {column: stored value}."""
        names = list(table.columns)
        sql = self._cached(
            ("fetch", table.entity_set),
            lambda: f"SELECT {', '.join(q(n) for n in names)} FROM {q(table.entity_set)} "
            f"WHERE {q(table.primary_id)} = ?",
        )
        rows = self.query(sql, (ident,))
        return dict(zip(names, rows[0])) if rows else None

    def find_by_key(self, table: Table, key: dict[str, Any]) -> str | None:
        """The id of the row whose columns equal `key`, if any."""
        cols = tuple(key)
        sql = self._cached(
            ("key", table.entity_set, cols),
            lambda: f"SELECT {q(table.primary_id)} FROM {q(table.entity_set)} WHERE "
            + " AND ".join(f"{q(c)} = ?" for c in cols),
        )
        rows = self.query(sql, [key[c] for c in cols])
        return rows[0][0] if rows else None

    def insert(self, table: Table, values: dict[str, Any]) -> None:
        """Insert one row (412 on a duplicate id or alternate key)."""
        cols = tuple(values)
        sql = self._cached(
            ("ins", table.entity_set, cols),
            lambda: f"INSERT INTO {q(table.entity_set)} ({', '.join(q(c) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
        )
        self._write(table, sql, list(values.values()))

    def update(self, table: Table, ident: str, values: dict[str, Any]) -> None:
        """Update columns of one row (412 on a duplicate alternate key)."""
        cols = tuple(values)
        sql = self._cached(
            ("upd", table.entity_set, cols),
            lambda: f"UPDATE {q(table.entity_set)} SET {', '.join(f'{q(c)} = ?' for c in cols)} "
            f"WHERE {q(table.primary_id)} = ?",
        )
        self._write(table, sql, [*values.values(), ident])

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write statement; the number of rows it changed."""
        with self.lock:
            return self._conn.execute(sql, params).rowcount

    def _write(self, table: Table, sql: str, params: list[Any]) -> None:
        with self.lock:
            try:
                self._conn.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                raise _duplicate(table, str(exc)) from None

    def _cached(self, key: tuple, build) -> str:
        sql = self._sql_cache.get(key)
        if sql is None:
            sql = self._sql_cache[key] = build()
        return sql


def _duplicate(table: Table, message: str) -> DataverseFault:
    if f"{table.entity_set}.{table.primary_id}" in message and "," not in message:
        return DataverseFault(
            412, DUPLICATE_RECORD, "A record with matching key values already exists."
        )
    for key, cols in table.alternate_keys.items():
        if all(f"{table.entity_set}.{c}" in message for c in cols):
            return DataverseFault(
                412,
                DUPLICATE_KEY,
                f"Entity Key {key} violated. A record with the same value for "
                f"{','.join(cols)} already exists.",
            )
    return DataverseFault(
        412, DUPLICATE_KEY, f"A record with matching key values already exists. ({message})"
    )
