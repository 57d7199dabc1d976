/**
 * @module A strict reader for the small XML documents Namecheap's API returns: elements,
 * attributes, text and CDATA sections (the SSL API wraps DCV values and PEM blocks in them),
 * nothing else (no DTD). Anything it does not understand throws, because a reply half-read
 * as "no hosts" would be written back as an empty zone.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTR = /\s+([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;
const ENTITY = /&(?:(amp|lt|gt|quot|apos)|#(\d+)|#x([0-9A-Fa-f]+));|&/g;
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/**
 * XML 1.0 §2.11 and §3.3.3: line ends become \n, and in an attribute a literal tab or line end
 * becomes a space; both before references are expanded, so `&#13;` stays a carriage return.
 */
function decode(raw: string, inAttribute: boolean): string {
  const lines = raw.replace(/\r\n?/g, "\n");
  return (inAttribute ? lines.replace(/[\t\n]/g, " ") : lines).replace(ENTITY, (m, named: string | undefined, dec: string | undefined, hex: string | undefined) => {
    if (named) return NAMED[named] ?? "";
    const code = dec !== undefined ? Number(dec) : hex !== undefined ? Number.parseInt(hex, 16) : Number.NaN;
    if (!Number.isInteger(code) || code > 0x10ffff) throw new Error(`bad character reference ${m}`);
    return String.fromCodePoint(code);
  });
}

/** The document's root element; throws with the reason on anything malformed. */
export function parseXml(doc: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  const skipMisc = () => {
    for (;;) {
      const ws = /\s*/y;
      ws.lastIndex = i;
      ws.exec(doc);
      i = ws.lastIndex;
      if (doc.startsWith("<?", i)) {
        const end = doc.indexOf("?>", i);
        if (end < 0) throw new Error("unterminated processing instruction");
        i = end + 2;
      } else if (doc.startsWith("<!--", i)) {
        const end = doc.indexOf("-->", i);
        if (end < 0) throw new Error("unterminated comment");
        i = end + 3;
      } else return;
    }
  };

  skipMisc();
  if (doc[i] !== "<") throw new Error(doc.trim() === "" ? "empty document" : "no root element");
  while (i < doc.length) {
    if (doc.startsWith("<!--", i)) {
      const end = doc.indexOf("-->", i);
      if (end < 0) throw new Error("unterminated comment");
      i = end + 3;
    } else if (doc.startsWith("<![CDATA[", i)) {
      // XML 1.0 §2.7: the content is taken as it is, no references expanded.
      const end = doc.indexOf("]]>", i);
      const top = stack[stack.length - 1];
      if (end < 0) throw new Error("unterminated CDATA section");
      if (!top) throw new Error("CDATA outside the root element");
      top.text += doc.slice(i + 9, end).replace(/\r\n?/g, "\n");
      i = end + 3;
    } else if (doc.startsWith("</", i)) {
      NAME.lastIndex = i + 2;
      const m = NAME.exec(doc);
      const open = stack.pop();
      if (!m || !open || m[0] !== open.name) throw new Error(`unexpected closing tag at ${i}`);
      i = NAME.lastIndex;
      const close = /\s*>/y;
      close.lastIndex = i;
      if (!close.exec(doc)) throw new Error(`bad closing tag </${m[0]}`);
      i = close.lastIndex;
      if (stack.length === 0) break;
    } else if (doc[i] === "<") {
      if (root && stack.length === 0) throw new Error("content after the root element");
      NAME.lastIndex = i + 1;
      const m = NAME.exec(doc);
      if (!m) throw new Error(`bad tag at ${i}`);
      const el: XmlElement = { name: m[0], attrs: {}, children: [], text: "" };
      i = NAME.lastIndex;
      for (;;) {
        ATTR.lastIndex = i;
        const a = ATTR.exec(doc);
        if (!a) break;
        const key = a[1] as string;
        if (key in el.attrs) throw new Error(`attribute ${key} given twice on <${el.name}>`);
        el.attrs[key] = decode((a[2] ?? a[3]) as string, true);
        i = ATTR.lastIndex;
      }
      const end = /\s*(\/?)>/y;
      end.lastIndex = i;
      const e = end.exec(doc);
      if (!e) throw new Error(`bad tag <${el.name}`);
      i = end.lastIndex;
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else root = el;
      if (e[1] !== "/") stack.push(el);
      else if (stack.length === 0) break;
    } else {
      const next = doc.indexOf("<", i);
      if (next < 0) throw new Error("unterminated document");
      const top = stack[stack.length - 1];
      if (!top) throw new Error("text outside the root element");
      top.text += decode(doc.slice(i, next), false);
      i = next;
    }
  }
  if (!root || stack.length > 0) throw new Error("unterminated document");
  skipMisc();
  if (i < doc.length) throw new Error("content after the root element");
  return root;
}

/** The first child named `name`, or undefined. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}
