"""Official test vectors from the providers' docs and SDK test suites, as data.

Each value was recomputed here from its inputs (see providers.md for the source files and commits);
the tests check them against the verifiers and, where an SDK is installed, against that SDK.
"""

from __future__ import annotations

# --- GitHub (docs "Testing the webhook payload validation"; octokit/webhooks-methods.js test/verify.test.ts)
GITHUB_DOCS = {
    "secret": "It's a Secret to Everybody",
    "body": b"Hello, World!",
    "signature": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
}
# octokit signs JSON.stringify(payload, null, 2) + "\n".
OCTOKIT_FOO_BAR = {
    "secret": "mysecret",
    "body": b'{\n  "foo": "bar"\n}\n',
    "signature": "sha256=e3eccac34c43c7dc1cbb905488b1b81347fcc700a7b025697a9d07862256023f",
}
# octokit issue #71: GitHub writes \u001B escapes in UPPERCASE and sends the heart as raw UTF-8.
OCTOKIT_ISSUE_71 = {
    "secret": "development",
    "body": (
        '{\n  "foo": "Foo\\n\\u001B[34mbar: \u2665\u2665\u2665\u2665\u2665\u2665\u2665\u2665'
        '\\nthis-is-lost\\u001B[0m\\u001B[2K"\n}\n'
    ).encode(),
    "signature": "sha256=9dacf9003316b09be07df56d86a2d0d6872e42a1e6c72c3bad9ff915a7c5603e",
}
# The same file: a literal backslash-u sequence in the string ("\\u001b").
OCTOKIT_ESCAPED = {
    "secret": "development",
    "body": b'{\n  "foo": "\\\\u001b"\n}\n',
    "signature": "sha256=87316067e2011fae39998b18c46a14d83b3e7c3ffdd88fb2ee5afb7d11288e60",
}
# jenkinsci/github-plugin GHWebhookSignatureTest (legacy SHA-1).
JENKINS_SHA1 = {"secret": "bar", "body": b"foo", "signature": "sha1=85d155c55ed286a300bd1cf124de08d87e914f3a"}

# --- Stripe (stripe-python tests use whsec_test_secret and time.time(); t is fixed here, v1 recomputed)
STRIPE = {
    "secret": "whsec_test_secret",
    "timestamp": 1700000000,
    "body": b'{\n  "id": "evt_test_webhook",\n  "object": "event",\n  "type": "payment_intent.succeeded"\n}',
    "v1": "eff1d2c6bc8bde2a9c9492db8f9912986b91cf6f9a4b0453e9c3cfbbf84a9b99",
}

# --- Standard Webhooks (sign vector shared by every library) and the Rust library's vector
STANDARD = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
STANDARD_RUST = {
    "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "id": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    "timestamp": 1649367553,
    "body": b'{"email":"test@example.com","username":"test_user"}',
    "signature": "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
}
# svix-server worker.rs test_asymmetric_key_signing: the 64-byte key is seed(32) || public key(32).
STANDARD_V1A = {
    "keypair": "6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==",
    "public": "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "body": b'{"test": 2432232314}',
    "signature": (
        "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
    ),
}

# --- Slack ("Verifying requests from Slack"; python-slack-sdk test_signature_verifier.py)
SLACK = {
    "secret": "8f742231b10e8888abcd99yyyzzz85a5",
    "timestamp": 1531420618,
    "body": (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    ),
    "signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
}

# --- Twilio (twilio-python tests/unit/test_request_validator.py and the docs worked example)
TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_SDK_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
TWILIO_SDK_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
TWILIO_DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
TWILIO_DOCS_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
# (url, signature): the SDK's port tests, each valid for TWILIO_SDK_PARAMS.
TWILIO_PORT_CASES = [
    ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", TWILIO_SDK_SIGNATURE),  # port removed
    ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),  # as given
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),  # :443 added
    ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # :80 added
]
# Duplicate names: values sorted and de-duplicated per name.
TWILIO_DUPLICATES_BODY = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
TWILIO_DUPLICATES_SIGNATURE = "IK+Dwps556ElfBT0I3Rgjkr1wJU="
TWILIO_JSON_BODY = b'{"property": "value", "boolean": true}'
TWILIO_JSON_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
TWILIO_JSON_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="

# --- Shopify (shopify-api-php tests)
SHOPIFY = {
    "secret": "7008c5f4da4718b9b45d26d3fcbbb157",
    "body": b'{"foo":"bar"}',
    "signature": "+R9TwYM4mbLTk3hEAOBkpA7zW2lc9vNFmVKs2u2jtyY=",
}

# --- Square (square-python-sdk tests/integration/test_webhooks_helper.py)
SQUARE = {
    "secret": "Ibxx_5AKakO-3qeNVR61Dw",
    "url": "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
    "body": (
        b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification",'
        b'"event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z",'
        b'"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
    ),
    "signature": "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=",
}
SQUARE_ESCAPED = {
    "secret": "signature-key",
    "url": "https://webhook.site/webhooks",
    "body": b'{"data":{"type":"webhooks","id":">id<"}}',
    "signature": "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U=",
}

# --- PagerDuty (go-pagerduty webhookv3/webhookv3_test.go)
PAGERDUTY = {
    "secret": "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK",
    "body": (
        b'{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated",'
        b'"resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":'
        b'"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/'
        b'PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2",'
        b'"type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":'
        b'"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":'
        b'"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH",'
        b'"id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service",'
        b'"type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G",'
        b'"id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":'
        b'"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/'
        b'PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":'
        b'"Default","type":"escalation_policy_reference"},"teams":[{"html_url":'
        b'"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/'
        b'PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":'
        b'"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":'
        b'"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},'
        b'"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":'
        b'"https://example.com"},"resolve_reason":null}}}'
    ),
    "signature": "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd",
    "mismatch": "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5",
}

# --- Paddle (paddle-node-sdk webhooks-validator.node.test.ts; fake clock at 2023-11-01T00:00:00Z)
PADDLE_NOW = 1698796800
PADDLE = {
    "secret": "VALID_SECRET",
    "body": b'{"data": ["1", "2"]}',
    "header": "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
}
PADDLE_MULTI = {
    "secret": "VALID_SECRET",
    "body": b'{"data": "value"}',
    "header": (
        "ts=1698796800;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;"
        "h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h2=RANDOM_HASH"
    ),
}

# --- SendGrid (sendgrid-python test/unit/test_eventwebhook.py): ECDSA, verified rather than re-signed
SENDGRID = {
    "public_key": (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRa"
        "INXvVpiglSI8eNEc6wEA3F+g=="
    ),
    "other_key": (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDth"
        "vj+y7GjUuFDb/R1NGe1OPzpA=="
    ),
    "signature": (
        "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
    ),
    "bad_signature": (
        "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0="
    ),
    "timestamp": "1600112502",
    # json.dumps([...], sort_keys=True, separators=(",", ":")) + "\r\n": the CRLF is signed.
    "body": (
        b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
        b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
        b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
        b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
    ),
}

# --- Zoom: elastic/beats http_endpoint crc_test.go (third party, not official); plainToken from Zoom docs
ZOOM_CRC = {
    "secret": "secretValueTest",
    "plain_token": "qgg8vlvZRS6UYooatFL8Aw",
    "encrypted_token": "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff",
}

# --- Mailgun: mailgun-go webhooks_test.go inputs (the SDK computes the HMAC at run time)
MAILGUN = {"secret": "webhook-signing-key", "token": "token", "timestamp": "123456789"}

# --- Slack url_verification: Slack's documented example token and challenge (signature derived)
SLACK_URL_VERIFICATION = (
    b'{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",'
    b'"type":"url_verification"}'
)
