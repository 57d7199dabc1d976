/** @module The page for what names nothing (a cert, a renewal, a path): in the layout, with a way back, never a broken page. */
import type { Child } from "hono/jsx";
import { Layout } from "../layout.tsx";

export function NotFoundPage(p: { csrf: string; title: string; children?: Child }) {
  return (
    <Layout title={p.title} csrf={p.csrf} section={null}>
      <h1>{p.title}</h1>
      <p class="empty panel" id="not-found">
        {p.children}
      </p>
    </Layout>
  );
}
