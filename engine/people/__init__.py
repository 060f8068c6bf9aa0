"""People after they are added: e-mail addresses, changes to roles and units, deactivation, their tokens,
their web sign-in passwords and sessions."""
