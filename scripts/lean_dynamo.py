"""A lean DynamoDB for the quota table (scripts/quota-table.py --engine lean): the requests the
quota's buckets make, served from memory as a WSGI app, in a fraction of a millisecond each.

moto's DynamoDB, the reference the limiter's tests run against, spends about 10 ms of CPU on
every request; a load run on two cores sends it a thousand of them, one at a time, and queues
them for seconds, where the service answers in a few milliseconds. This engine answers the same
requests the same way, and nothing else:

- CreateTable, PutItem, GetItem (items by their string hash key);
- UpdateItem with `SET a = operand [+|- operand], ...` and `ADD a :v, ...` on numbers, every
  operand read from the item as it was before the update; a ConditionExpression of
  `attribute_exists(a)`, `attribute_not_exists(a)`, comparisons (`= <> < <= > >=`),
  `a BETWEEN x AND y`, `AND`, `OR`, `NOT` and parentheses; ReturnValues `NONE`, `ALL_NEW`,
  `UPDATED_NEW`; a failed condition is a `ConditionalCheckFailedException` carrying the old item
  when `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`.

Anything else is a `ValidationException` naming what is not supported. Numbers are decimals, as
in DynamoDB. One request at a time (the caller serialises them).
"""

import json
import re
from decimal import Decimal

TOKEN = re.compile(r"\s*(?:(<>|<=|>=|[=<>+\-(),])|([#:]?[A-Za-z_][A-Za-z0-9_]*))")
KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "SET", "ADD"}
PREFIX = "com.amazonaws.dynamodb.v20120810#"


class Invalid(Exception):
    """A request this engine (or DynamoDB) rejects: a ValidationException."""


class Failed(Exception):
    """A condition that did not hold: a ConditionalCheckFailedException."""


def tokens(expression: str) -> list:
    out, pos = [], 0
    while pos < len(expression):
        if expression[pos:].strip() == "":
            break
        m = TOKEN.match(expression, pos)
        if not m:
            raise Invalid(f"cannot read expression at {expression[pos:]!r}")
        word = m.group(1) or m.group(2)
        out.append(word.upper() if word.upper() in KEYWORDS else word)
        pos = m.end()
    return out


class Reader:
    """Walks the tokens of one expression against the request's names and values."""

    def __init__(self, expression: str, names: dict, values: dict):
        self.toks, self.i, self.names, self.values = tokens(expression), 0, names, values

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected=None):
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise Invalid(f"expected {expected or 'more'}, found {tok!r}")
        self.i += 1
        return tok

    def name(self) -> str:
        tok = self.take()
        if tok.startswith("#"):
            if tok not in self.names:
                raise Invalid(f"ExpressionAttributeNames has no {tok}")
            return self.names[tok]
        if tok.startswith(":") or tok in KEYWORDS:
            raise Invalid(f"expected an attribute name, found {tok}")
        return tok

    def operand(self):
        """An operand: ('value', av) or ('path', name)."""
        tok = self.peek()
        if tok is not None and tok.startswith(":"):
            self.take()
            if tok not in self.values:
                raise Invalid(f"ExpressionAttributeValues has no {tok}")
            return ("value", self.values[tok])
        return ("path", self.name())


def resolve(operand, item: dict):
    kind, x = operand
    return x if kind == "value" else item.get(x)


def scalar(av):
    if av is None:
        return None
    if "N" in av:
        return Decimal(av["N"])
    if "S" in av:
        return av["S"]
    raise Invalid(f"only numbers and strings are supported, not {av}")


def compare(op: str, a, b) -> bool:
    if a is None or b is None or type(a) is not type(b):
        return False
    return {"=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def joined(r: Reader, item: dict, word: str, part, combine) -> bool:
    """Parts joined by `word` (OR, AND), every one of them read and evaluated."""
    result = part(r, item)
    while r.peek() == word:
        r.take()
        result = combine(result, part(r, item))
    return result


def condition(r: Reader, item: dict) -> bool:
    return joined(r, item, "OR", conjunction, lambda a, b: a or b)


def conjunction(r: Reader, item: dict) -> bool:
    return joined(r, item, "AND", negation, lambda a, b: a and b)


def negation(r: Reader, item: dict) -> bool:
    if r.peek() == "NOT":
        r.take()
        return not negation(r, item)
    return primary(r, item)


def primary(r: Reader, item: dict) -> bool:
    tok = r.peek()
    if tok == "(":
        r.take()
        result = condition(r, item)
        r.take(")")
        return result
    if tok in ("attribute_exists", "attribute_not_exists"):
        r.take()
        r.take("(")
        present = r.name() in item
        r.take(")")
        return present if tok == "attribute_exists" else not present
    left = scalar(resolve(r.operand(), item))
    op = r.take()
    if op == "BETWEEN":
        low = scalar(resolve(r.operand(), item))
        r.take("AND")
        high = scalar(resolve(r.operand(), item))
        return compare(">=", left, low) and compare("<=", left, high)
    if op not in ("=", "<>", "<", "<=", ">", ">="):
        raise Invalid(f"unsupported comparison {op!r}")
    return compare(op, left, scalar(resolve(r.operand(), item)))


def number(av, what: str) -> Decimal:
    if av is None or "N" not in av:
        raise Invalid(f"{what} is not a number: {av}")
    return Decimal(av["N"])


def n(x: Decimal) -> dict:
    return {"N": format(x.normalize() if x != 0 else Decimal(0), "f")}


def updates(r: Reader, item: dict) -> dict:
    """The attributes an update expression writes, computed from `item` as it was."""
    new = {}
    while r.peek() is not None:
        clause = r.take()
        if clause not in ("SET", "ADD"):
            raise Invalid(f"only SET and ADD are supported, not {clause}")
        while True:
            target = r.name()
            if clause == "SET":
                r.take("=")
                value = resolve(r.operand(), item)
                if r.peek() in ("+", "-"):
                    sign = r.take()
                    other = number(resolve(r.operand(), item), "an operand of " + sign)
                    base = number(value, "an operand of " + sign)
                    value = n(base + other if sign == "+" else base - other)
                if value is None:
                    raise Invalid(f"SET {target} reads an attribute the item does not have")
            else:
                kind, av = r.operand()
                if kind != "value":
                    raise Invalid("ADD takes a value")
                current = item.get(target)
                value = n(number(av, "ADD's value") + (number(current, target) if current else 0))
            new[target] = value
            if r.peek() != ",":
                break
            r.take(",")
    return new


class LeanDynamo:
    """The engine: tables of items by their hash key, and a WSGI app serving them."""

    def __init__(self):
        self.tables = {}

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b"{}"
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
        try:
            status, out = "200 OK", self.handle(operation, json.loads(body or b"{}"))
        except Failed as e:
            status, out = "400 Bad Request", {"__type": PREFIX + "ConditionalCheckFailedException",
                                               "message": "The conditional request failed", **e.args[0]}
        except KeyError as e:
            status, out = "400 Bad Request", {"__type": PREFIX + "ResourceNotFoundException",
                                               "message": f"Requested resource not found: {e.args[0]}"}
        except Invalid as e:
            status, out = "400 Bad Request", {"__type": PREFIX + "ValidationException", "message": str(e)}
        data = json.dumps(out).encode()
        start_response(status, [("Content-Type", "application/x-amz-json-1.0"),
                                ("Content-Length", str(len(data))), ("x-amzn-RequestId", "lean")])
        return [data]

    def table(self, name: str):
        if name not in self.tables:
            raise KeyError(name)
        return self.tables[name]

    def key(self, table, key: dict) -> str:
        hash_key = table["key"]
        if set(key) != {hash_key} or "S" not in key[hash_key]:
            raise Invalid(f"the key must be the string attribute {hash_key}")
        return key[hash_key]["S"]

    def handle(self, operation: str, req: dict) -> dict:
        if operation == "CreateTable":
            (hash_key,) = [k["AttributeName"] for k in req["KeySchema"] if k["KeyType"] == "HASH"]
            self.tables[req["TableName"]] = {"key": hash_key, "items": {}}
            return {"TableDescription": {"TableName": req["TableName"], "TableStatus": "ACTIVE"}}
        table = self.table(req.get("TableName", ""))
        if operation == "PutItem":
            item = req["Item"]
            table["items"][self.key(table, {table["key"]: item.get(table["key"], {})})] = item
            return {}
        if operation == "GetItem":
            item = table["items"].get(self.key(table, req["Key"]))
            return {"Item": item} if item is not None else {}
        if operation != "UpdateItem":
            raise Invalid(f"{operation} is not supported")
        pk = self.key(table, req["Key"])
        old = table["items"].get(pk)
        item = dict(old) if old is not None else dict(req["Key"])
        names, values = req.get("ExpressionAttributeNames", {}), req.get("ExpressionAttributeValues", {})
        if "ConditionExpression" in req:
            r = Reader(req["ConditionExpression"], names, values)
            holds = condition(r, old or {})
            if r.peek() is not None:
                raise Invalid(f"unexpected {r.peek()!r} in the condition")
            if not holds:
                all_old = req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                raise Failed({"Item": old} if all_old and old is not None else {})
        new = updates(Reader(req.get("UpdateExpression", ""), names, values), old or {})
        item.update(new)
        table["items"][pk] = item
        returns = req.get("ReturnValues", "NONE")
        if returns == "ALL_NEW":
            return {"Attributes": item}
        if returns == "UPDATED_NEW":
            return {"Attributes": new}
        if returns == "NONE":
            return {}
        raise Invalid(f"ReturnValues {returns} is not supported")
