"""Operations: health and readiness, metrics, task runs, the admin's system page."""
