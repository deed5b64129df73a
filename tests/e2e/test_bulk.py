"""Bulk sending end to end (docs/bulk.md): recipient lists with their limits and counts,
BatchSendEmail tasks (immediate, timed, cyclic) fanned out into the queue and delivered to the
sink each with its own data, a restart in the middle of a task, the daily quota pause, and
tenant isolation.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest

from helpers import API_TZ, call, expect_error, ready_sender, sink_domain, wait_until

# Short cycles and ticks so timed and cyclic tasks fire within seconds.
BULK = {"bulk": {"tick": "200ms", "cycle_unit": "2s", "chunk": 50}}


@pytest.fixture(scope="module")
def srv(make_sending_server):
    return make_sending_server(BULK, name="bulk")


@pytest.fixture(scope="module")
def acc(srv):
    a = srv.account("bulk")
    return a, srv.client(a)


def new_list(client, name: str | None = None) -> int:
    return call(client, "CreateReceiver", {"ReceiversName": name or f"list-{time.monotonic_ns()}",
                                           "Desc": "test list"})["ReceiverId"]


def begin_time(seconds: float) -> str:
    return (datetime.now(API_TZ) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------- lists


def test_list_counts_and_limits(srv, acc):
    _, client = acc
    rid = new_list(client, "counts")
    expect_error(client, "CreateReceiver", "InvalidParameterValue.RepeatReceiverName", {"ReceiversName": "counts"})
    expect_error(client, "CreateReceiver", "InvalidParameterValue.ReceiverNameIllegal", {"ReceiversName": " "})
    emails = ["ok1@a.test", "OK1@A.TEST", "", "   ", "x" * 300 + "@a.test", "not-an-address", "ok2@a.test"]
    got = call(client, "CreateReceiverDetail", {"ReceiverId": rid, "Emails": emails})
    assert got["TotalCount"] == 7
    assert got["ValidCount"] == 2
    assert got["EmptyEmailCount"] == 2
    assert got["TooLongCount"] == 1
    assert got["RepeatCount"] == 1
    lists = call(client, "ListReceivers", {"Offset": 0, "Limit": 10, "KeyWord": "coun"})
    assert lists["TotalCount"] == 1
    row = lists["Data"][0]
    assert row["ReceiverId"] == rid and row["ReceiversStatus"] == 3
    assert row["Count"] == 3 and row["InvalidCount"] == 1
    details = call(client, "ListReceiverDetails", {"ReceiverId": rid, "Offset": 0, "Limit": 10})
    assert details["TotalCount"] == 3 and details["ValidCount"] == 2 and details["InvalidCount"] == 1
    invalid = call(client, "ListReceiverDetails", {"ReceiverId": rid, "Offset": 0, "Limit": 10, "Status": 2})
    assert [d["Email"] for d in invalid["Data"]] == ["not-an-address"] and invalid["Data"][0]["Reason"]
    fuzzy = call(client, "ListReceiverDetails", {"ReceiverId": rid, "Offset": 0, "Limit": 10, "Email": "ok2"})
    assert [d["Email"] for d in fuzzy["Data"]] == ["ok2@a.test"]
    # No de-duplication against earlier uploads.
    again = call(client, "CreateReceiverDetail", {"ReceiverId": rid, "Emails": ["ok1@a.test"]})
    assert again["ValidCount"] == 1
    expect_error(client, "CreateReceiverDetail", "LimitExceeded.ReceiverDetailRequestLimit",
                 {"ReceiverId": rid, "Emails": [f"u{i}@a.test" for i in range(20001)]})
    expect_error(client, "CreateReceiverDetail", "OperationDenied.ReceiverNotExist",
                 {"ReceiverId": 999999, "Emails": ["a@a.test"]})
    expect_error(client, "ListReceiverDetails", "FailedOperation.InvalidLimit",
                 {"ReceiverId": rid, "Offset": 0, "Limit": 101})


def test_big_upload_is_fast_and_list_cap(srv, acc):
    _, client = acc
    rid = new_list(client)
    emails = [f"user{i}@big.test" for i in range(20000)]
    start = time.monotonic()
    got = call(client, "CreateReceiverDetail", {"ReceiverId": rid, "Emails": emails})
    took = time.monotonic() - start
    print(f"20000-address CreateReceiverDetail: {took:.3f}s")
    (srv.dir / "upload-time.txt").write_text(f"{took:.3f}\n")
    assert got["ValidCount"] == 20000
    assert took < 1.5, took
    call(client, "CreateReceiverDetail", {"ReceiverId": rid, "Emails": [f"b{i}@big.test" for i in range(20000)]})
    expect_error(client, "CreateReceiverDetail", "LimitExceeded.ReceiverDetailCountLimit",
                 {"ReceiverId": rid, "Emails": [f"c{i}@big.test" for i in range(10001)]})
    call(client, "DeleteReceiver", {"ReceiverId": rid})
    expect_error(client, "DeleteReceiver", "OperationDenied.ReceiverNotExist", {"ReceiverId": rid})


def test_template_data_rules(srv, acc):
    _, client = acc
    rid = new_list(client)
    ok = {"ReceiverId": rid, "Datas": [{"Email": "ok1@a.test", "TemplateData": json.dumps({"name": "A"})}]}
    call(client, "CreateReceiverDetailWithData", ok)
    bad = [
        ("InvalidParameterValue.TemplateDataLenLimit", json.dumps({"name": "x" * 800})),
        ("InvalidParameterValue.TemplateDataError", "{not json"),
        ("InvalidParameterValue.InValidTemplateData", json.dumps({"name": "<b>A</b>"})),
        ("InvalidParameterValue.TemplateDataInconsistent", json.dumps({"other": "A"})),
    ]
    for code, data in bad:
        expect_error(client, "CreateReceiverDetailWithData", code,
                     {"ReceiverId": rid, "Datas": [{"Email": "ok2@a.test", "TemplateData": data}]})
    details = call(client, "ListReceiverDetails", {"ReceiverId": rid, "Offset": 0, "Limit": 10})
    assert details["TotalCount"] == 1
    assert json.loads(details["Data"][0]["TemplateData"]) == {"name": "A"}


def test_lists_are_per_tenant(srv, acc):
    _, client = acc
    rid = new_list(client, "mine")
    other = srv.client(srv.account("bulk-other"))
    expect_error(other, "CreateReceiverDetail", "OperationDenied.ReceiverNotExist",
                 {"ReceiverId": rid, "Emails": ["a@a.test"]})
    expect_error(other, "ListReceiverDetails", "OperationDenied.ReceiverNotExist",
                 {"ReceiverId": rid, "Offset": 0, "Limit": 10})
    expect_error(other, "DeleteReceiver", "OperationDenied.ReceiverNotExist", {"ReceiverId": rid})
    assert call(other, "ListReceivers", {"Offset": 0, "Limit": 100})["TotalCount"] == 0
    # The same name is free in another account.
    new_list(other, "mine")
