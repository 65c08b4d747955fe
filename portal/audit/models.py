"""The audit log: who did what to which money object, when and from where. Append-only.

Every payout transition, every change of bank details and every admin action on money
appends one `AuditLog` row through `portal.audit.services.record`. Rows are never updated
or deleted: PostgreSQL refuses UPDATE and DELETE with a trigger (`AUDIT_POSTGRES_DDL`),
SQLite with its own triggers (`AUDIT_SQLITE_TRIGGERS`), and on every backend the ORM
refuses to flush a change to a loaded row.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql

from portal.accounts.models import User
from portal.db import UTCDateTime, utcnow
from portal.extensions import db

# Big integer keys on PostgreSQL; SQLite only autoincrements a plain INTEGER primary key.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonValue = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    # None when the portal acted on its own (a scheduled task, a command).
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    action: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    object_type: so.Mapped[str] = so.mapped_column(sa.String(32))
    object_id: so.Mapped[str] = so.mapped_column(sa.String(64))
    before: so.Mapped[dict | None] = so.mapped_column(JsonValue)
    after: so.Mapped[dict | None] = so.mapped_column(JsonValue)
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(45))

    actor: so.Mapped[User | None] = so.relationship()

    __table_args__ = (sa.Index("ix_audit_log_object", "object_type", "object_id", "id"),)

    def __repr__(self) -> str:
        return f"<AuditLog {self.id} {self.action} {self.object_type}:{self.object_id}>"


# Kept as one string so a migration can run it verbatim (`op.execute(AUDIT_POSTGRES_DDL)`):
# no bind-parameter colons and no percent signs. Row triggers do not fire on TRUNCATE,
# which is how the test suite empties tables between tests.
AUDIT_POSTGRES_DDL = """
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'restrict_violation',
        MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused';
END
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
"""

AUDIT_POSTGRES_DROP_DDL = """
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
DROP FUNCTION IF EXISTS audit_log_refuse_change();
"""

# SQLite runs one statement per call, hence one string per trigger.
AUDIT_SQLITE_TRIGGERS = tuple(
    f"""
CREATE TRIGGER IF NOT EXISTS audit_log_no_{op.lower()}
BEFORE {op} ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: {op} refused');
END
"""
    for op in ("UPDATE", "DELETE")
)

sa.event.listen(
    AuditLog.__table__,
    "after_create",
    sa.DDL(AUDIT_POSTGRES_DDL).execute_if(dialect="postgresql"),
)
for _trigger in AUDIT_SQLITE_TRIGGERS:
    sa.event.listen(
        AuditLog.__table__, "after_create", sa.DDL(_trigger).execute_if(dialect="sqlite")
    )
