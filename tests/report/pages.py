"""What every report page must be: one file that references nothing remote."""

import re
from html.parser import HTMLParser

REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*['\"]?\s*(https?:)?//", re.IGNORECASE)
RESOURCE_ATTRIBUTES = {"src", "href", "srcset", "data", "poster", "action", "formaction", "background"}


class Resources(HTMLParser):
    """Collects the page's references to remote resources: elements' src/href/... attributes and
    CSS url(...) in style elements and attributes (script text is code, not a reference)."""

    def __init__(self):
        super().__init__()
        self.remote = []
        self.tags = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if value and ((name in RESOURCE_ATTRIBUTES and REMOTE.match(value)) or (name == "style" and CSS_URL.search(value))):
                self.remote.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        self._in_style = False if tag == "style" else self._in_style

    def handle_data(self, data):
        if self._in_style and CSS_URL.search(data):
            self.remote.append(f"style: {CSS_URL.search(data).group(0)}")


def check_self_contained(path):
    """The page's text after checking it references nothing remote and carries Bokeh inline."""
    text = path.read_text(encoding="utf-8")
    parser = Resources()
    parser.feed(text)
    assert parser.remote == [], parser.remote
    assert "link" not in parser.tags  # no stylesheet or anything else linked
    assert "Bokeh" in text and text.count("<script") >= 2  # Bokeh's own code is in the page
    return text
