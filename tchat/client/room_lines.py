"""
The lines of the events about rooms and their operators (``topic``, ``op``,
``kick``, ``ban``, ``mode``, ``nick``, ``whois`` …): one line each, said to
``you`` when it is about you. L{tchat.client.render.Renderer} is a
L{RoomLines}.
"""

from __future__ import annotations

from typing import Any

from tchat.client.lines import LineMaker, Segment, duration, is_number, listed, mode_change, mode_letters
from tchat.errors import counted
from tchat.names import name_key

__all__ = ["RoomLines"]


class RoomLines(LineMaker):
    """What rooms, their operators and people's names look like."""

    def _topic(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        room, topic = e["room"], e.get("topic")
        if e.get("re") is not None:  # the answer to reading it
            if not topic:
                return [self._info(f"{room} has no topic")]
            by = f" (set by {e['by']}" + (f", {self._when(e['at'])}" if is_number(e.get("at")) else "") + ")" if e.get("by") else ""
            return [self._info(f"Topic of {room}: {topic}{by}")]
        if not topic:
            return [self._info(f"{e['by']} cleared the topic of {room}")]
        return [self._info(f"{e['by']} set the topic of {room}: {topic}")]

    def _rank(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, whose = self._about(str(e["user"]), me)
        room, by = e["room"], e["by"]
        text = {
            "op": f"{by} made {who} an operator of {room}",
            "deop": f"{by} took {whose} operator rights in {room}",
            "voice": f"{by} gave {who} a voice in {room}",
            "devoice": f"{by} took {whose} voice in {room}",
        }[str(e["event"])]
        return [self._info(text)]

    def _kick(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        if who == "you":
            return [self._info(f"You were put out of {e['room']} by {e['by']}{self._reason(e)}", "server")]
        return [self._info(f"{e['user']} was put out of {e['room']} by {e['by']}{self._reason(e)}")]

    def _ban(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        if who == "you":
            return [self._info(f"You were banned from {e['room']} by {e['by']}{self._until(e)}", "server")]
        return [self._info(f"{e['user']} was banned from {e['room']} by {e['by']}{self._until(e)}")]

    def _unban(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        _, whose = self._about(str(e["user"]), me)
        return [self._info(f"{e['by']} lifted {whose} ban from {e['room']}")]

    def _mute(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        if who == "you":
            return [self._info(
                f"You were muted in {e['room']} by {e['by']}{self._until(e)}: your messages there reach nobody", "server"
            )]
        return [self._info(f"{e['user']} was muted in {e['room']} by {e['by']}{self._until(e)}")]

    def _unmute(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["user"]), me)
        return [self._info(f"{e['by']} let {who} speak in {e['room']} again")]

    def _invite(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        return [self._info(f"{e['by']} invites you to {e['room']}: /join {e['room']} to go in", "server")]

    def _mode(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        raw = e.get("modes")
        modes: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if e.get("re") is not None or "set" not in e:  # the answer to reading them
            details = []
            if isinstance(modes.get("key"), str):
                details.append(f"key {modes['key']}")
            if is_number(modes.get("limit")):
                details.append(f"at most {modes['limit']} members")
            extra = f" ({', '.join(details)})" if details else ""
            return [self._info(f"Modes of {e['room']}: {mode_letters(modes)}{extra}")]
        changes = ", ".join(mode_change(str(k), v) for k, v in e["set"].items())
        now = f" (now {mode_letters(modes)})" if modes else ""
        return [self._info(f"{e['by']} set {changes} on {e['room']}{now}")]

    def _bans(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        bans, mutes = e["bans"], e["mutes"]
        lines = [self._info(f"{e['room']}: {counted(len(bans), 'ban')}, {counted(len(mutes), 'mute')}")]
        for what, entries in (("banned", bans), ("muted", mutes)):
            for r in entries:
                guest = "" if r.get("account") else " (a guest: by name and address)"
                until = self._until(r) or " for good"
                lines.append(self._info(f"  {r['user']}{guest} {what} by {r['by']}, {self._when(r.get('at'))}{until}"))
        return lines

    def _nick(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        who, _ = self._about(str(e["old"]), me)
        if who == "you" or (me is not None and name_key(str(e["new"])) == name_key(me)):
            return [self._info(f"You are now known as {e['new']}")]
        return [self._info(f"{e['old']} is now known as {e['new']}", "presence")]

    def _whois(self, e: dict[str, Any], me: str | None) -> list[list[Segment]]:
        user = e["user"]
        if not e.get("online"):
            seen = f"; last seen {self._when(e['seen'])}" if is_number(e.get("seen")) else ""
            return [self._info(f"{user} is registered and not online{seen}")]
        what = "registered" if e.get("registered") else "a guest"
        rooms = e.get("rooms") or []
        parts = [f"{user}: {what}, in {listed(rooms) if rooms else 'no room'}"]
        if is_number(e.get("idle")):
            parts.append(f"idle {duration(float(e['idle']))}")
        if is_number(e.get("since")):
            parts.append(f"online since {self._when(e['since'])}")
        if is_number(e.get("sessions")) and e["sessions"] > 1:
            parts.append(f"{e['sessions']} sessions")
        away = f"; away: {e['away']}" if e.get("away") else ""
        return [self._info(", ".join(parts) + away)]
