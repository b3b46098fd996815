/** The raw baseline protocol of `pnpm bench transport`: bytes in, a 1-byte frame back at the end. */
export const RAW_PROTOCOL = '/pb/bench-raw/1';
