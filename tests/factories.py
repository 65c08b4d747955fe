from datetime import timedelta

import factory
from werkzeug.security import generate_password_hash

from portal.accounts.models import User
from portal.bookings.models import Booking, BookingStatus
from portal.bookings.services import lesson_price
from portal.db import utcnow
from portal.extensions import db

PASSWORD = "correct-horse-battery"
# A cheap hash keeps the suite fast; production hashes with Werkzeug's default (scrypt).
_PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


class BaseFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class UserFactory(BaseFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@m4sh.app")
    name = factory.Sequence(lambda n: f"User {n}")
    role = "student"
    password_hash = _PASSWORD_HASH
    hourly_rate = factory.LazyAttribute(lambda o: 4500 if o.role == "tutor" else None)


class BookingFactory(BaseFactory):
    class Meta:
        model = Booking

    tutor = factory.SubFactory(UserFactory, role="tutor")
    student = factory.SubFactory(UserFactory, role="student")
    starts_at = factory.LazyFunction(lambda: (utcnow() + timedelta(days=2)).replace(microsecond=0))
    duration_minutes = 60
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=o.duration_minutes))
    price = factory.LazyAttribute(lambda o: lesson_price(o.tutor.hourly_rate, o.duration_minutes))
    currency = "usd"
    status = BookingStatus.PENDING_PAYMENT
