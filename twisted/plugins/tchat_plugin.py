"""Makes ``twistd tchat`` exist. Everything else is in L{tchat.tap}."""

from twisted.application.service import ServiceMaker

tchat = ServiceMaker(
    "tchat",
    "tchat.tap",
    "A chat server for terminals, browsers and programs.",
    "tchat",
)
