"""
The IRC numerics the door sends, and which one answers each of the hub's
error codes (``tchat/vocabulary.py``).

An error's numeric may depend on what was asked: ``not_in_room`` is 442
(you are not on that channel) for most commands, 404 (cannot send) for a
message, and 441 (they are not on that channel) when the door knows its
user is in the channel and so the one missing must be the other.
"""

from __future__ import annotations

RPL_WELCOME = "001"
RPL_YOURHOST = "002"
RPL_CREATED = "003"
RPL_MYINFO = "004"
RPL_ISUPPORT = "005"
RPL_UMODEIS = "221"
RPL_LUSERCLIENT = "251"
RPL_LUSEROP = "252"
RPL_LUSERCHANNELS = "254"
RPL_LUSERME = "255"
RPL_TRYAGAIN = "263"
RPL_LOCALUSERS = "265"
RPL_GLOBALUSERS = "266"
RPL_AWAY = "301"
RPL_USERHOST = "302"
RPL_ISON = "303"
RPL_UNAWAY = "305"
RPL_NOWAWAY = "306"
RPL_WHOISREGNICK = "307"
RPL_WHOISUSER = "311"
RPL_WHOWASUSER = "314"
RPL_WHOISSERVER = "312"
RPL_WHOISOPERATOR = "313"
RPL_ENDOFWHO = "315"
RPL_WHOISIDLE = "317"
RPL_ENDOFWHOIS = "318"
RPL_WHOISCHANNELS = "319"
RPL_LISTSTART = "321"
RPL_LIST = "322"
RPL_LISTEND = "323"
RPL_CHANNELMODEIS = "324"
RPL_CREATIONTIME = "329"
RPL_WHOISACCOUNT = "330"
RPL_WHOISBOT = "335"
RPL_NOTOPIC = "331"
RPL_TOPIC = "332"
RPL_TOPICWHOTIME = "333"
RPL_INVITELIST = "336"
RPL_ENDOFINVITELIST = "337"
RPL_INVITING = "341"
RPL_WHOREPLY = "352"
RPL_WHOSPCRPL = "354"
RPL_NAMREPLY = "353"
RPL_ENDOFNAMES = "366"
RPL_LINKS = "364"
RPL_ENDOFLINKS = "365"
RPL_ENDOFWHOWAS = "369"
RPL_BANLIST = "367"
RPL_ENDOFBANLIST = "368"
RPL_INFO = "371"
RPL_MOTD = "372"
RPL_ENDOFINFO = "374"
RPL_MOTDSTART = "375"
RPL_ENDOFMOTD = "376"
RPL_YOUREOPER = "381"
RPL_TIME = "391"
ERR_UNKNOWNERROR = "400"
ERR_NOSUCHNICK = "401"
ERR_NOSUCHCHANNEL = "403"
ERR_CANNOTSENDTOCHAN = "404"
ERR_TOOMANYCHANNELS = "405"
ERR_WASNOSUCHNICK = "406"
ERR_NORECIPIENT = "411"
ERR_NOTEXTTOSEND = "412"
ERR_INPUTTOOLONG = "417"
ERR_UNKNOWNCOMMAND = "421"
ERR_NOMOTD = "422"
ERR_NONICKNAMEGIVEN = "431"
ERR_ERRONEUSNICKNAME = "432"
ERR_NICKNAMEINUSE = "433"
ERR_UNAVAILRESOURCE = "437"
ERR_USERNOTINCHANNEL = "441"
ERR_NOTONCHANNEL = "442"
ERR_USERONCHANNEL = "443"
ERR_NOTREGISTERED = "451"
ERR_NEEDMOREPARAMS = "461"
ERR_ALREADYREGISTERED = "462"
ERR_PASSWDMISMATCH = "464"
ERR_CHANNELISFULL = "471"
ERR_UNKNOWNMODE = "472"
ERR_INVITEONLYCHAN = "473"
ERR_BANNEDFROMCHAN = "474"
ERR_BADCHANNELKEY = "475"
ERR_BANLISTFULL = "478"
ERR_NOPRIVILEGES = "481"
ERR_CHANOPRIVSNEEDED = "482"
ERR_NOOPERHOST = "491"
ERR_UMODEUNKNOWNFLAG = "501"
ERR_USERSDONTMATCH = "502"
ERR_INVALIDCAPCMD = "410"
ERR_INVALIDMODEPARAM = "696"
ERR_HELPNOTFOUND = "524"
RPL_HELPSTART = "704"
RPL_HELPTXT = "705"
RPL_ENDOFHELP = "706"
RPL_MONONLINE = "730"
RPL_MONOFFLINE = "731"
RPL_MONLIST = "732"
RPL_ENDOFMONLIST = "733"
ERR_MONLISTFULL = "734"

# Each hub error code, the numeric that answers it, and whether the numeric
# names the channel (else the nick, or nothing but the text). Codes not here
# get 400 (ERR_UNKNOWNERROR) naming the command, with the hub's text.
# "channel", "nick", "command": what the numeric's parameter before the text is.
ERRORS: dict[str, tuple[str, str]] = {
    "unknown_command": (ERR_UNKNOWNCOMMAND, "command"),
    "not_logged_in": (ERR_NOTREGISTERED, ""),
    "name_taken": (ERR_NICKNAMEINUSE, "nick"),
    "name_registered": (ERR_NICKNAMEINUSE, "nick"),
    "confusable_name": (ERR_NICKNAMEINUSE, "nick"),
    "password_required": (ERR_NICKNAMEINUSE, "nick"),
    "already_logged_in": (ERR_ALREADYREGISTERED, ""),
    "too_many_sessions": (ERR_UNAVAILRESOURCE, "nick"),
    "no_such_user": (ERR_NOSUCHNICK, "nick"),
    "no_such_room": (ERR_NOSUCHCHANNEL, "channel"),
    "not_in_room": (ERR_NOTONCHANNEL, "channel"),
    "too_many_rooms": (ERR_TOOMANYCHANNELS, "channel"),
    "empty_message": (ERR_NOTEXTTOSEND, ""),
    "not_allowed": (ERR_NOPRIVILEGES, ""),
    "rate_limited": (RPL_TRYAGAIN, "command"),
    "bad_password": (ERR_PASSWDMISMATCH, ""),
    "no_such_account": (ERR_PASSWDMISMATCH, ""),
    "guests_not_allowed": (ERR_PASSWDMISMATCH, ""),
    "not_op": (ERR_CHANOPRIVSNEEDED, "channel"),
    "banned": (ERR_BANNEDFROMCHAN, "channel"),
    "invite_only": (ERR_INVITEONLYCHAN, "channel"),
    "bad_key": (ERR_BADCHANNELKEY, "channel"),
    "room_full": (ERR_CHANNELISFULL, "channel"),
    "muted": (ERR_CANNOTSENDTOCHAN, "channel"),
    "too_many_bans": (ERR_BANLISTFULL, "channel"),
    "watch_full": (ERR_MONLISTFULL, "command"),
}
