import { describe, expect, it } from 'vitest';
import { cutText, jsonbText, storableJson, storableText } from '../../lib/text';

describe('text PostgreSQL will store', () => {
  it('cuts without splitting a character', () => {
    expect(cutText('abc😀', 4)).toBe('abc');
    expect(cutText('abc😀', 5)).toBe('abc😀');
    expect(cutText('abcd', 2)).toBe('ab');
    expect(cutText('ab', 10)).toBe('ab');
  });

  it('replaces unpaired surrogates and NUL, leaves pairs alone', () => {
    expect(storableText('a\ud800b\u0000c😀')).toBe('a\ufffdb\ufffdc😀');
    expect(storableText('\udc00')).toBe('\ufffd');
  });

  it('replaces the escapes jsonb refuses in JSON text, and only real escapes', () => {
    expect(jsonbText({ a: '\ud800', b: 'x\u0000', c: '😀' })).toBe('{"a":"\\ufffd","b":"x\\ufffd","c":"😀"}');
    // A backslash followed by "ud800" is text, not an escape: kept as it was.
    const literal = JSON.stringify({ a: '\\ud800' });
    expect(storableJson(literal)).toBe(literal);
    expect(JSON.parse(storableJson(JSON.stringify({ a: '\\\ud800' })))).toEqual({ a: '\\\ufffd' });
  });
});
