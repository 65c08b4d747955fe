"""The navigation bar by role: (endpoint, label) pairs, in order."""

NAV = {
    "student": [("bookings.my_lessons", "My lessons"), ("bookings.tutors", "Find a tutor")],
    "tutor": [("bookings.my_lessons", "My lessons"), ("wallets.earnings", "Earnings")],
    "admin": [
        ("admin.index", "Overview"),
        ("admin.lessons", "Lessons"),
        ("ledger_admin.index", "Ledger"),
    ],
}


def nav_items(user) -> list[tuple[str, str]]:
    return NAV.get(user.role, [])
