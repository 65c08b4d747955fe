"""Every feature's models, imported so metadata (and Alembic) sees all tables."""

from portal.accounts.models import ApiToken, User  # noqa: F401
from portal.bookings.models import Booking  # noqa: F401
