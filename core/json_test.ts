/** parseJson: exact big integers, and the plain JSON.parse fast path giving the same values. */
import assert from "node:assert/strict";
import { parseJson, partsParser, stringifyJson } from "./json.ts";

Deno.test("parseJson keeps integers past 2^53 as bigint, with or without other long digit runs", () => {
  assert.deepEqual(parseJson('{"t":1685022245478445995,"n":1}'), {
    t: 1685022245478445995n,
    n: 1,
  });
  assert.deepEqual(parseJson("[-9007199254740993]"), [-9007199254740993n]);
  // 16 digits that are safe, or not integers: numbers as JSON.parse gives them.
  assert.deepEqual(parseJson('{"a":1000000000000000,"b":1234567890123456.5}'), {
    a: 1000000000000000,
    b: 1234567890123456.5,
  });
  assert.deepEqual(parseJson('{"s":"12345678901234567890"}'), {
    s: "12345678901234567890",
  });
});

Deno.test("parseJson without long digit runs is JSON.parse, errors included", () => {
  const text = '{"ip":"192.0.2.10","port":22,"x":[1.5,-3e40,null,true]}';
  assert.deepEqual(parseJson(text), JSON.parse(text));
  assert.throws(() => parseJson('{"a":'), SyntaxError);
  assert.equal(
    stringifyJson(parseJson('{"t":1685022245478445995}')),
    '{"t":1685022245478445995}',
  );
});

Deno.test("partsParser keeps big integers in any line of a body that holds one, plain JSON.parse otherwise", () => {
  const body = '{"n":1}\n{"t":1685022245478445995}\n';
  const parse = partsParser(body);
  assert.deepEqual(
    body.trim().split("\n").map((line) => parse(line)),
    [{ n: 1 }, { t: 1685022245478445995n }],
  );
  assert.equal(partsParser('{"n":1}\n{"n":2}'), JSON.parse);
  assert.throws(() => partsParser('{"a":1}')('{"a":'), SyntaxError);
});
