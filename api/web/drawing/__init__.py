"""Pictures drawn on the server as SVG from numbers and definitions: no chart library, no script, no renderer."""
