"""A broker that is a cluster: several nodes in KYTOS_MQ_URL or KYTOS_MQ_HOST (issue 17)."""

import pytest

from mq_producer.checks import SettingsError
from mq_producer.transports.amqp.broker import broker_from_env


def test_a_list_of_urls_gives_the_nodes_in_order():
    broker = broker_from_env({"KYTOS_MQ_URL": "amqp://kytos:s3cr,et@n1:5672/sdx, "
                                              "amqp://kytos:s3cr,et@n2:5673/sdx,"
                                              "amqp://kytos:s3cr,et@[::1]:5674/sdx"})
    assert broker.nodes == (("n1", 5672), ("n2", 5673), ("::1", 5674))
    assert broker.password.reveal() == "s3cr,et"  # a comma in a password is kept
    assert [broker.node(index).display for index in range(4)] == [
        "amqp://kytos:***@n1:5672/sdx", "amqp://kytos:***@n2:5673/sdx",
        "amqp://kytos:***@[::1]:5674/sdx", "amqp://kytos:***@n1:5672/sdx"]
    assert broker.node(1).url == "amqp://kytos:s3cr%2Cet@n2:5673/sdx"
    assert broker.node_count == 3


def test_a_list_of_hosts_takes_the_default_port_and_the_credentials():
    broker = broker_from_env({"KYTOS_MQ_HOST": "n1, n2:5700,[fe80::1]",
                              "KYTOS_MQ_USERNAME": "kytos", "KYTOS_MQ_PASSWORD": "pw",
                              "KYTOS_MQ_TLS": "true"})
    assert broker.nodes == (("n1", 5671), ("n2", 5700), ("fe80::1", 5671))
    assert broker.node(2).display == "amqps://kytos:***@[fe80::1]:5671/%2F"


def test_one_node_has_no_list():
    broker = broker_from_env({"KYTOS_MQ_URL": "amqp://u:p@n1/"})
    assert broker.nodes == () and broker.node(5) is broker and broker.node_count == 1


@pytest.mark.parametrize(("environ", "error"), [
    ({"KYTOS_MQ_URL": "amqp://u:p@n1/,amqp://u:other@n2/"},
     "KYTOS_MQ_URL entry 2 (amqp://u:***@n2:5672/%2F): every node takes the scheme, user, "
     "password and vhost of the first"),
    ({"KYTOS_MQ_URL": "amqp://u:p@n1/,amqps://u:p@n2/"}, "KYTOS_MQ_URL entry 2"),
    ({"KYTOS_MQ_URL": "amqp://u:p@n1/,amqp://u:p@n1:5672/"}, "node 2 (n1:5672) is listed twice"),
    ({"KYTOS_MQ_URL": "amqp://u:p@n1/,amqp://u:p@n2:99999/"}, "KYTOS_MQ_URL entry 2: invalid port"),
    ({"KYTOS_MQ_HOST": "n1,,n2"}, "KYTOS_MQ_HOST entry 2: empty"),
    ({"KYTOS_MQ_HOST": "n1,n2:x"}, "KYTOS_MQ_HOST entry 2: expected a port number"),
    ({"KYTOS_MQ_HOST": "n1,fe80::1"}, "KYTOS_MQ_HOST entry 2: an IPv6 address goes in brackets"),
    ({"KYTOS_MQ_HOST": "n1,[fe80::1"}, "KYTOS_MQ_HOST entry 2: expected [IPv6 address]"),
])
def test_a_bad_entry_is_named(environ, error):
    with pytest.raises(SettingsError) as raised:
        broker_from_env(environ)
    assert error in str(raised.value)
    assert "other" not in str(raised.value)  # never a password
