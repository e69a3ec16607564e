#!/usr/bin/env python3
"""A Plugboard process plugin in Python with a dashboard panel: word statistics of a text.

`stats` takes a JSON string and answers {"words", "chars", "top": [[word, n], ...]}; `total`
answers how many words this process has counted since it started.
"""
import json
import re
import sys
from collections import Counter
from pathlib import Path

try:
    from plugboard_plugin import Plugin, serve
except ImportError:  # run from a Plugboard checkout, without `pip install ./sdk/python`
    sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "sdk" / "python"))
    from plugboard_plugin import Plugin, serve


class WordStats(Plugin):
    def boot(self, host, config):
        self.top = int((config or {}).get("top", 5))
        self.total = 0

    def call(self, host, method, payload):
        if method == "stats":
            text = json.loads(payload or b'""')
            words = re.findall(r"[\w']+", str(text).lower())
            self.total += len(words)
            top = Counter(words).most_common(self.top)
            return json.dumps(
                {"words": len(words), "chars": len(str(text)), "top": top, "total": self.total}
            ).encode()
        if method == "total":
            return str(self.total).encode()
        raise self.unknown_method(method)

    def health(self):
        return ("healthy", "counting words")


if __name__ == "__main__":
    serve(WordStats())
