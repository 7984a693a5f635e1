"""A Ticketfrei 2 database (ref/ticketfrei2-schema.md) opens in place and its city is served."""
import base64
import hashlib
import os
import sqlite3
import urllib.request

import user
from instance import wait_for

V2_TABLES = {
    "user": "passhash TEXT, enabled INTEGER DEFAULT 1",
    "email": "user_id INTEGER, email TEXT, FOREIGN KEY(user_id) REFERENCES user(id)",
    "triggerpatterns": "user_id INTEGER, patterns TEXT, FOREIGN KEY(user_id) REFERENCES user(id)",
    "badwords": "user_id INTEGER, words TEXT, FOREIGN KEY(user_id) REFERENCES user(id)",
    "cities": "user_id INTEGER, city TEXT, markdown TEXT, mail_md TEXT, masto_link TEXT, "
              "twit_link TEXT, FOREIGN KEY(user_id) REFERENCES user(id), UNIQUE(user_id, city)",
    "secret": "secret BLOB",
    "mastodon_instances": "instance TEXT, client_id TEXT, client_secret TEXT",
    "mastodon_accounts": "user_id INTEGER, access_token TEXT, instance_id INTEGER, active INTEGER",
    "seen_toots": "user_id INTEGER, toot_uri TEXT",
    "twitter_request_tokens": "user_id INTEGER, request_token TEXT, request_token_secret TEXT",
    "twitter_accounts": "user_id INTEGER, client_id TEXT, client_secret TEXT, active INTEGER",
    "seen_tweets": "user_id INTEGER, tweet_id INTEGER",
    "seen_dms": "user_id INTEGER, twitter_accounts_id INTEGER, message_id TEXT",
    "twitter_last_request": "user_id INTEGER, date INTEGER",
    "telegram_accounts": "user_id INTEGER, apikey TEXT, active INTEGER",
    "seen_telegrams": "user_id INTEGER, tg_id INTEGER",
    "telegram_subscribers": "user_id INTEGER, subscriber_id INTEGER, "
                            "UNIQUE(user_id, subscriber_id)",
    "mailinglist": "user_id INTEGER, email TEXT",
    "seen_mail": "user_id INTEGER, mail_date REAL",
}
V2_TRIGGERS = "\n".join(["kontroll?e", "konti", "db", "vgn", "vag", "zivil", "sicherheit",
                         "uniform", "station", "bus", "bahn", "tram", "linie", "nuernberg",
                         "nürnberg", r"s\d", r"u\d\d?"])


def v2_passhash(password: str) -> str:
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=64)
    return f"$s1$0e0801${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def make_v2_database(path, password="v2 password"):
    conn = sqlite3.connect(path)
    for table, columns in V2_TABLES.items():
        conn.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY AUTOINCREMENT, {columns})')
    conn.execute('INSERT INTO "user" (passhash, enabled) VALUES (?, 1)', (v2_passhash(password),))
    conn.execute("INSERT INTO email (user_id, email) VALUES (1, 'orga@nbg.example')")
    conn.execute("INSERT INTO triggerpatterns (user_id, patterns) VALUES (1, ?)", (V2_TRIGGERS,))
    conn.execute("INSERT INTO badwords (user_id, words) VALUES (1, 'bastard')")
    conn.execute("INSERT INTO cities (user_id, city, markdown, mail_md, masto_link, twit_link) "
                 "VALUES (1, 'Nürnberg', '# Ticketfrei Nürnberg\n\nSchreibt uns *alles*!', "
                 "'', 'https://chaos.social/@tfnbg', '')")
    conn.execute("INSERT INTO secret (secret) VALUES (?)", (os.urandom(32),))
    conn.execute("INSERT INTO seen_toots (user_id, toot_uri) VALUES (1, 'https://x/1')")
    conn.commit()
    schema = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    conn.close()
    return schema


def test_version_2_database_opens_in_place_and_its_city_is_served(make_instance):
    instance = make_instance(disabled=("mail",))  # the networks use version 2's tables
    instance.data.mkdir(parents=True)
    path = instance.data / "ticketfrei.sqlite"
    before = make_v2_database(path)
    instance.start()
    wait_for(lambda: {"Nürnberg/testnet:a", "Nürnberg/testnet:b"} <= instance.running_names(),
             30, what="the version 2 city's bots")
    base = f"http://127.0.0.1:{instance.port}"
    page = urllib.request.urlopen(f"{base}/city/N%C3%BCrnberg", timeout=10).read().decode()
    assert "<h1>Ticketfrei Nürnberg</h1>" in page and "<em>alles</em>" in page
    landing = urllib.request.urlopen(base + "/", timeout=10).read().decode()
    assert "Nürnberg" in landing
    # The city's version 2 trigger list is what the censor applies, with version 2's verdicts:
    # anywhere in the text (a compound is a warning), and a text that matches none is refused.
    instance.send(1, "a", "Kontrolle in der U1")
    instance.send(1, "a", "danke für die Info")
    instance.send(1, "a", "Fahrkartenkontrolleure im Nachtbus")
    wait_for(lambda: len(instance.posted(1, "b")) == 2, 20, what="the reports relayed")
    assert [row[2] for row in instance.posted()] == ["Kontrolle in der U1",
                                                     "Fahrkartenkontrolleure im Nachtbus"]
    instance.stop()
    conn = sqlite3.connect(path)
    after = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    assert {name: after[name] for name in before} == before  # version 3 only added tables
    assert {"reports", "deliveries", "process_status"} <= set(after)
    assert conn.execute("SELECT toot_uri FROM seen_toots").fetchall() == [("https://x/1",)]


def test_version_2_password_hash_still_verifies():
    passhash = v2_passhash("v2 password")
    assert user.verify_password(passhash, "v2 password")
    assert not user.verify_password(passhash, "wrong password")
    assert user.needs_rehash(passhash, upgrade_finished=True)
    assert not user.needs_rehash(passhash, upgrade_finished=False)  # `upgrade --finish`


def test_new_passwords_are_hashed_with_argon2():
    passhash = user.hash_password("a good password")
    assert passhash.startswith("$argon2id$")
    assert user.verify_password(passhash, "a good password")
    assert not user.verify_password(passhash, "a bad password")
