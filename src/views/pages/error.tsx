/** @module The page for a request the daemon could not answer: in the layout, saying why in one line, never a stack. */
import { Layout } from "../layout.tsx";

export function ErrorPage(p: { csrf: string; title: string; message: string }) {
  return (
    <Layout title={p.title} csrf={p.csrf} section={null}>
      <h1>{p.title}</h1>
      <p class="error-box" role="alert">
        {p.message}
      </p>
    </Layout>
  );
}
