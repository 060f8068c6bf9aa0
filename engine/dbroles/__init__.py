"""PostgreSQL roles: the owner runs the migrations, the application's role may only do what closeloop does.

``grants`` is the plan of table privileges (and its check); ``setup`` writes the psql script that makes the
roles and the database (``closeloop db roles``).
"""
