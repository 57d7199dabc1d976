/** Files the dashboard embeds as text (`with { type: "text" }`): to the compiler, their content. */
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "*/live.js" {
  const text: string;
  export default text;
}
declare module "htmx.org/dist/htmx.min.js" {
  const text: string;
  export default text;
}
