"""What the SVG drawings share: escaping, an estimate of a label's width, and the picture's frame with its title."""
from __future__ import annotations

from markupsafe import Markup, escape


def text_width(text: str, size: float) -> float:
    """About how wide ``text`` is at font size ``size``: CJK characters are square, others about 0.6 of that."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in text)


def frame(width: float, height: float, title: str, body: list[str], *, css_class: str) -> Markup:
    """An SVG picture scaled to its container (viewBox, width 100%) whose title names it for screen readers."""
    return Markup(
        f'<svg class="{css_class}" viewBox="0 0 {width:.0f} {height:.0f}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">'
        f'<title>{escape(title)}</title>{"".join(body)}</svg>')
