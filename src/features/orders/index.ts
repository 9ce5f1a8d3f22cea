/** Orders: what other features may use (the API shapes of an order and its tickets). Features import each other only through this file (README, Code map). */
export { type Buyer, toApiOrder, toApiTicket } from "./service";
export { settleOwnOrders } from "./settle";
