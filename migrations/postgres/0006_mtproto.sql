-- The peers the bot has seen over MTProto, with their access hashes: a bot can only
-- address a user it has seen. `info` is grammers' PeerInfo as JSON; peer_id is the Bot
-- API's number for the chat. The rest of the MTProto session (auth keys, update state)
-- is in the session file, not here. Unused by the webhook and polling transports.
CREATE TABLE bot_mtproto_peers (
    peer_id    BIGINT PRIMARY KEY,
    info       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
