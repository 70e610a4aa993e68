"""An indenting line printer."""


class Printer:
    def __init__(self):
        self._lines = []
        self._indent = ""

    def __call__(self, line=""):
        self._lines.append((self._indent + line).rstrip() if line else "")

    def lines(self, lines):
        for line in lines:
            self._lines.append(line)

    def indent(self):
        self._indent += "    "

    def outdent(self):
        self._indent = self._indent[:-4]

    def text(self):
        return "\n".join(self._lines).rstrip("\n") + "\n"
