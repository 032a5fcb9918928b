"""Payload schemas: the FileDescriptorSet a domain's payloads were appended
under, turned into a Protobuf message class (one descriptor pool per
(domain, version), so that two versions of the same message never clash)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Type

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from intentlog.errors import SchemaError

SchemaKey = Tuple[str, int]  # (domain, schema_version)


def message_class(descriptor_set: bytes, full_name: str) -> Type[message.Message]:
    """The message class named ``full_name`` in a serialized FileDescriptorSet."""
    fds = descriptor_pb2.FileDescriptorSet()
    try:
        fds.ParseFromString(descriptor_set)
    except Exception as e:  # DecodeError, or the C++ runtime's own
        raise SchemaError("descriptor set does not parse: %s" % e) from None
    files = {f.name: f for f in fds.file}
    pool = descriptor_pool.DescriptorPool()
    added: set = set()

    def add(name: str, path: List[str]) -> None:
        if name in added:
            return
        if name in path:
            raise SchemaError("descriptor set has an import cycle through %s" % name)
        f = files.get(name)
        if f is None:
            raise SchemaError("descriptor set lacks %s (was it written with --include_imports?)" % name)
        for dep in f.dependency:
            add(dep, path + [name])
        pool.Add(f)
        added.add(name)

    try:
        for name in files:
            add(name, [])
        desc = pool.FindMessageTypeByName(full_name)
    except SchemaError:
        raise
    except Exception as e:
        raise SchemaError("descriptor set is not usable for %s: %s" % (full_name, e)) from None
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


class SchemaCache:
    """Message classes per (domain, version), or the reason there is none."""

    def __init__(self) -> None:
        self._classes: Dict[SchemaKey, Type[message.Message]] = {}
        self._errors: Dict[SchemaKey, str] = {}
        self._names: Dict[SchemaKey, str] = {}

    def known(self, key: SchemaKey) -> bool:
        return key in self._classes or key in self._errors

    def store(self, key: SchemaKey, full_name: str, descriptor_set: bytes, error: str) -> None:
        """Records a Schema frame's answer."""
        if error:
            self._errors[key] = error
            return
        try:
            self._classes[key] = message_class(descriptor_set, full_name)
            self._names[key] = full_name
            self._errors.pop(key, None)
        except SchemaError as e:
            self._errors[key] = str(e)

    def forget_errors(self) -> None:
        """Drops the recorded failures, so that they are asked for again."""
        self._errors.clear()

    def get(self, key: SchemaKey) -> Type[message.Message]:
        cls = self._classes.get(key)
        if cls is not None:
            return cls
        raise SchemaError("no schema %d of domain %r: %s" % (key[1], key[0], self._errors.get(key, "not fetched")))

    def message_name(self, key: SchemaKey) -> Optional[str]:
        return self._names.get(key)

    def __contains__(self, key: Any) -> bool:
        return key in self._classes
