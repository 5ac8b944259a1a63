"""etcd adapters (v3 API through etcd's HTTP/JSON gateway, client `etcd3gw`): the hash ring's membership."""
