"""
The hub's ``history`` with ``before``, ``after``, ``around`` and ``end``
(by msgid or by time): the same rules as every page of ``/history``, over
a real SQLite file.
"""

from __future__ import annotations

from typing import Any

from tchat.commands import BadRequest
from tchat.events import Event, millisecond
from tests.helpers import RecordingSession, request
from tests.test_accounts import AccountsTestCase


class HistoryPageRuleTests(AccountsTestCase):
    async def said(self, session: RecordingSession, to: str, *texts: str) -> list[Event]:
        """Send ``texts``; their ``ok`` (msgid and ts as stored)."""
        oks = []
        for text in texts:
            ok = await self.ask(session, "msg", to=to, text=text)
            self.assertEqual(ok.name, "ok", ok)
            oks.append(ok)
        return oks

    async def page(self, session: RecordingSession, target: str, **args: Any) -> Event:
        return await self.ask(session, "history", target=target, **args)

    def texts(self, event: Event) -> list[str]:
        self.assertEqual(event.name, "history", event)
        return [m["text"] for m in event["messages"]]

    async def test_pages_after_around_and_between_by_msgid_and_by_time(self) -> None:
        alice = await self.guest("alice")
        oks = await self.said(alice, "#lobby", *(f"t{i}" for i in range(6)))
        ids = [ok["msgid"] for ok in oks]
        after = await self.page(alice, "#lobby", after=ids[1], end="oldest", limit=2)
        self.assertEqual((self.texts(after), after["more"]), (["t2", "t3"], True))
        self.assertEqual(self.texts(await self.page(alice, "#lobby", after=ids[1], limit=2)), ["t4", "t5"])
        self.assertEqual(self.texts(await self.page(alice, "#lobby", around=ids[3], limit=3)), ["t2", "t3", "t4"])
        self.assertEqual(self.texts(await self.page(alice, "#lobby", after=ids[0], before=ids[5], end="oldest")),
                         ["t1", "t2", "t3", "t4"])
        # A time is a number, compared to the millisecond: after t3's (as stored; an ok has a time
        # of its own), the messages of later milliseconds.
        stored = (await self.page(alice, "#lobby"))["messages"]
        ts3 = stored[3]["ts"]
        later = [m["text"] for m in stored if millisecond(m["ts"]) > millisecond(ts3)]
        self.assertEqual(self.texts(await self.page(alice, "#lobby", after=ts3)), later)
        self.assertNotIn("t3", later)
        self.assertEqual(self.texts(await self.page(alice, "#lobby", before=int(stored[0]["ts"]))), [])

    async def test_a_page_that_makes_no_sense_is_refused_with_a_reason(self) -> None:
        alice = await self.guest("alice")
        (ok,) = await self.said(alice, "#lobby", "one")
        event = await self.page(alice, "#lobby", around=ok["msgid"], before=ok["msgid"])
        self.assertEqual((event.name, event["code"]), ("error", "bad_request"))
        self.assertIn("around", event["text"])
        event = await self.page(alice, "#lobby", around=ok["msgid"], end="oldest")
        self.assertEqual(event["code"], "bad_request")
        with self.assertRaises(BadRequest) as refused:
            request("history", target="#lobby", end="middle")
        self.assertEqual(refused.exception.text, "end is newest or oldest")
        event = await self.page(alice, "#lobby", after="nope")
        self.assertEqual(event["code"], "no_such_message")

    async def test_a_msgid_from_a_conversation_one_cannot_read_is_unknown(self) -> None:
        alice = await self.registered("alice")
        bob = await self.registered("bob")
        (private,) = await self.said(alice, "bob", "between us")
        await self.ask(alice, "join", room="#secret")
        (secret,) = await self.said(alice, "#secret", "members only")
        carol = await self.registered("carol")
        for ref in (private["msgid"], secret["msgid"]):
            for field in ("before", "after", "around"):
                event = await self.page(carol, "#lobby", **{field: ref})
                self.assertEqual(event["code"], "no_such_message", (field, ref))
                event = await self.page(carol, "alice", **{field: ref})
                self.assertEqual(event["code"], "no_such_message", (field, ref))
        # The two read it, from either side, named as the account is.
        for session, other in [(alice, "BOB"), (bob, "alice")]:
            event = await self.page(session, other, around=private["msgid"])
            self.assertEqual((event["target"], self.texts(event)), (other.lower(), ["between us"]))

    async def test_since_join_bounds_pages_by_msgid_and_time_too(self) -> None:
        owner = await self.registered("owner")
        await self.ask(owner, "join", room="#club")
        await self.ask(owner, "mode", room="#club", set="+H")
        early = await self.said(owner, "#club", "e0", "e1")
        guest = await self.guest("guest")
        await self.ask(guest, "join", room="#club")
        await self.said(owner, "#club", "l0", "l1")
        for page in ({"around": early[1]["msgid"]}, {"after": early[0]["msgid"], "end": "oldest"},
                     {"before": 2e9}, {"after": 0}):
            self.assertEqual(self.texts(await self.page(guest, "#club", **page)), ["l0", "l1"], page)
        self.assertEqual(self.texts(await self.page(owner, "#club", after=early[0]["msgid"], end="oldest", limit=2)),
                         ["e1", "l0"])
