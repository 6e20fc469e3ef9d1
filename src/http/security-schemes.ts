/** Security requirement for authenticated routes in the OpenAPI document. */
export const AUTHENTICATED: Array<Record<string, string[]>> = [{ sessionCookie: [] }, { shopifySessionToken: [] }];
