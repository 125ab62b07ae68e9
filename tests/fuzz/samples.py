"""Real webhook bodies to mutate: the documented samples the channel tests use (reference notes §1.3,
§2.3, GBM/RBM §3, WeChat §4), addressed to the fuzz gateway's integrations."""

from __future__ import annotations

from typing import Any

from tests.wechat.test_inbound import EVENTS, MESSAGES

PAGE_ID = "1122334455"
PHONE_NUMBER_ID = "106540352242922"
AGENT = "sim-agent"
WECHAT_ACCOUNT = "gh_abcdef123456"

TS = 1458692752478


def _messenger(*events: dict[str, Any], page: str = PAGE_ID) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page, "time": TS, "messaging": list(events)}]}


def _sent(**content: Any) -> dict[str, Any]:
    return {"sender": {"id": "PSID1"}, "recipient": {"id": PAGE_ID}, "timestamp": TS, **content}


MESSENGER: list[dict[str, Any]] = [
    _messenger(_sent(message={"mid": "m_1", "text": "hello"})),
    _messenger(_sent(message={"mid": "m_2", "text": "Red", "quick_reply": {"payload": "COLOR_RED"}})),
    _messenger(
        _sent(
            message={
                "mid": "m_3",
                "attachments": [
                    {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/x.jpg"}},
                    {
                        "type": "location",
                        "title": "Home",
                        "payload": {"coordinates": {"lat": 52.5, "long": 13.4}},
                    },
                    {"type": "fallback", "payload": {"url": "https://example.com"}, "title": "a link"},
                ],
            }
        )
    ),
    _messenger(_sent(postback={"mid": "m_4", "title": "Start", "payload": "GET_STARTED"})),
    _messenger(_sent(referral={"ref": "ad", "source": "ADS", "type": "OPEN_THREAD"})),
    _messenger(_sent(reaction={"mid": "m_1", "action": "react", "emoji": "😀", "reaction": "smile"})),
    _messenger(_sent(delivery={"mids": ["mid.1", "mid.2"], "watermark": TS})),
    _messenger(_sent(read={"watermark": TS})),
    _messenger(_sent(message={"mid": "m_5", "text": "echo", "is_echo": True})),
    _messenger(_sent(message={"mid": "m_6", "text": "other page"}), page="999999999"),
    {
        "object": "page",
        "entry": [
            {"id": PAGE_ID, "time": TS, "messaging": [_sent(message={"mid": "m_7", "text": "a"})]},
            {"id": PAGE_ID, "time": TS, "messaging": [_sent(message={"mid": "m_8", "text": "b"})]},
        ],
    },
]


def _whatsapp(value: dict[str, Any], number: str = PHONE_NUMBER_ID) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


_CONTACTS = [
    {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "user_id": "US.13491208655302741918"}
]


def _wa_message(**content: Any) -> dict[str, Any]:
    return _whatsapp(
        {"contacts": _CONTACTS, "messages": [{"from": "16505551234", "timestamp": "1749416400", **content}]}
    )


WHATSAPP: list[dict[str, Any]] = [
    _wa_message(id="wamid.T1", type="text", text={"body": "Does it come in another color?"}),
    _wa_message(
        id="wamid.I1",
        type="image",
        image={"id": "1003383421387256", "mime_type": "image/jpeg", "caption": "c"},
    ),
    _wa_message(
        id="wamid.L1", type="location", location={"latitude": 37.48, "longitude": -122.14, "name": "HQ"}
    ),
    _wa_message(
        id="wamid.B1",
        type="interactive",
        interactive={"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
    ),
    _wa_message(
        id="wamid.F1",
        type="interactive",
        interactive={"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": '{"a": 1}'}},
    ),
    _wa_message(id="wamid.Q1", type="button", button={"payload": "STOP", "text": "Stop"}),
    _wa_message(id="wamid.R1", type="reaction", reaction={"message_id": "wamid.T1", "emoji": "👍"}),
    _whatsapp(
        {
            "statuses": [
                {
                    "id": "wamid.OUT1",
                    "status": "delivered",
                    "timestamp": "1749416500",
                    "recipient_id": "16505551234",
                },
                {
                    "id": "wamid.OUT2",
                    "status": "failed",
                    "recipient_id": "16505551234",
                    "errors": [{"code": 131047, "title": "Re-engagement message"}],
                },
            ]
        }
    ),
    _whatsapp({"errors": [{"code": 130429, "title": "Rate limit hit"}]}),
    _whatsapp(
        {
            "contacts": _CONTACTS,
            "messages": [{"from": "1", "id": "wamid.N", "type": "text", "text": {"body": "x"}}],
        },
        "42",
    ),
]


def _gbm(**content: Any) -> dict[str, Any]:
    return {
        "agent": f"brands/sim-brand/agents/{AGENT}",
        "conversationId": "conv-1",
        "customAgentId": "",
        "requestId": "req-1",
        "context": {
            "entryPoint": "PLACESHEET",
            "userInfo": {"displayName": "Ann", "userDeviceLocale": "en-US"},
        },
        "sendTime": "2024-01-01T00:00:00.100Z",
        **content,
    }


GBM: list[dict[str, Any]] = [
    _gbm(
        message={
            "name": "conversations/conv-1/messages/M1",
            "messageId": "M1",
            "text": "hello",
            "createTime": "2024-01-01T00:00:00.000Z",
        }
    ),
    _gbm(
        suggestionResponse={
            "message": "conversations/conv-1/messages/M0",
            "postbackData": "sample_chip",
            "createTime": "2024-01-01T00:00:01Z",
            "text": "Sample Chip",
            "suggestionType": "REPLY",
        }
    ),
    _gbm(userStatus={"requestedLiveAgent": True, "createTime": "2024-01-01T00:00:02Z"}),
    _gbm(
        receipts={
            "receipts": [{"message": "conversations/conv-1/messages/OUT1", "receiptType": "READ"}],
            "createTime": "2024-01-01T00:00:03Z",
        }
    ),
    _gbm(surveyResponse={"survey": "conversations/conv-1/surveys/S1", "rating": "VERY_SATISFIED"}),
]


def _rbm(**content: Any) -> dict[str, Any]:
    return {
        "senderPhoneNumber": "+12223334444",
        "sendTime": "2024-01-01T00:00:00Z",
        "agentId": f"{AGENT}@rbm.goog",
        **content,
    }


RBM: list[dict[str, Any]] = [
    _rbm(messageId="R1", text="hello"),
    _rbm(messageId="R2", suggestionResponse={"postbackData": "yes", "text": "Yes", "type": "REPLY"}),
    _rbm(messageId="R3", location={"latitude": 37.4, "longitude": -122.1}),
    _rbm(
        messageId="R4", userFile={"payload": {"mimeType": "image/png", "fileUri": "https://rcs.example/f/1"}}
    ),
    _rbm(eventType="DELIVERED", eventId="E1", messageId="OUT1"),
    _rbm(eventType="READ", eventId="E2", messageId="OUT1"),
    {
        "phoneNumber": "+12223334444",
        "eventType": "TTL_EXPIRATION_REVOKED",
        "eventId": "E3",
        "messageId": "OUT2",
        "agentId": AGENT,
    },
]

#: WeChat message and event XML documents (plaintext, before encryption), from the WeChat channel tests
WECHAT: list[str] = [xml for xml, _ in (*MESSAGES.values(), *EVENTS.values())]
