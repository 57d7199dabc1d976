/** @module The strict XML reader: what it decodes, and what it refuses instead of reading as "nothing". */
import { describe, expect, test } from "bun:test";
import { parseXml } from "./xml.ts";

describe("parseXml", () => {
  test("decodes entities and character references in attributes and text", () => {
    const el = parseXml(`<?xml version="1.0"?>\n<a x="&quot;q&quot; &amp; &lt;t&gt; &#43;&#x3D; grüße" y='1'><b>t&amp;x</b><c/></a>`);
    expect(el.attrs).toEqual({ x: '"q" & <t> += grüße', y: "1" });
    expect(el.children.map((c) => [c.name, c.text])).toEqual([["b", "t&x"], ["c", ""]]);
  });

  test("normalises attribute whitespace as XML does, keeping escaped line ends", () => {
    expect(parseXml(`<a v="x\ty\r\nz&#13;&#10;"/>`).attrs.v).toBe("x y z\r\n");
  });

  test("takes a CDATA section as it is, beside text", () => {
    expect(parseXml(`<a> x <![CDATA[-----BEGIN <&amp;>\r\n+/=]]> y</a>`).text).toBe(" x -----BEGIN <&amp;>\n+/= y");
  });

  test("refuses empty, cut-off, mismatched and trailing documents", () => {
    for (const doc of ["", "  ", "<a>", "<a><b></a>", "<a/><b/>", "<a x=1/>", "text", "<a>&#xFFFFFFF;</a>", "<a><![CDATA[x</a>"]) {
      expect(() => parseXml(doc)).toThrow();
    }
  });
});
