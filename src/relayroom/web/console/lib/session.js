// The signed-in session of this tab: the bearer token and the chosen account live in sessionStorage
// (this tab only, nothing persistent); who is signed in (/me) is loaded from the API.

import { get } from "./api.js";

const TOKEN_KEY = "relayroom.console.token";
const ACCOUNT_KEY = "relayroom.console.account";

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null, // {user, accounts}
  accountId: sessionStorage.getItem(ACCOUNT_KEY),
};

export const token = () => state.token;
export const me = () => state.me;
export const accountId = () => state.accountId;

export function setAccount(id) {
  state.accountId = id;
  sessionStorage.setItem(ACCOUNT_KEY, id);
}

export function startSession(value) {
  state.token = value;
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function endSession() {
  state.token = null;
  state.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

export function account() {
  return me()?.accounts.find((a) => a.id === accountId()) || null;
}

export function isOwner() {
  return account()?.role === "owner";
}

/** Who is signed in and their accounts; the chosen account falls back to the first one. */
export async function loadMe() {
  state.me = await get("/me");
  if (!state.me.accounts.some((a) => a.id === state.accountId)) state.accountId = state.me.accounts[0]?.id || null;
  if (state.accountId) sessionStorage.setItem(ACCOUNT_KEY, state.accountId);
}
