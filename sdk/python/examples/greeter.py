#!/usr/bin/env python3
"""A Plugboard process plugin in Python: greets, and counts greetings in the host's storage."""
import json

from plugboard_plugin import Plugin, serve


class Greeter(Plugin):
    def boot(self, host, config):
        self.greeting = (config or {}).get("greeting", "hello")
        host.log("info", "greeter booted", greeting=self.greeting)

    def call(self, host, method, payload):
        if method == "greet":
            name = json.loads(payload or b'"world"')
            return json.dumps("%s, %s" % (self.greeting, name)).encode()
        if method == "count":
            n = int(host.storage_get("count") or b"0") + 1
            host.storage_put("count", str(n).encode())
            return str(n).encode()
        raise self.unknown_method(method)

    def health(self):
        return ("healthy", "greeting people")


if __name__ == "__main__":
    serve(Greeter())
