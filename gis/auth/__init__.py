"""Users, roles, jurisdictions and API tokens (who may see and do what).

* :mod:`gis.auth.users` — create / disable / passwd / authenticate (argon2id);
* :mod:`gis.auth.roles` — operator, planner, leader, admin and their actions;
* :mod:`gis.auth.jurisdiction` — a unit and everything below it;
* :mod:`gis.auth.tokens` — API tokens scoped to a source and a unit, stored hashed.

The database enforces jurisdictions with row-level security (migration 0008); run
per-request work through :func:`gis.store.scoped.scoped`.
"""
