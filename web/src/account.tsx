import { createContext, type ReactNode, useContext } from 'react';

export interface Account {
  shop: string;
  credits: number;
  setCredits(credits: number): void;
  /** Reads the balance again (after a refund, a purchase). */
  refresh(): void;
}

const AccountContext = createContext<Account | null>(null);

export function AccountProvider({ value, children }: { value: Account; children: ReactNode }) {
  return <AccountContext.Provider value={value}>{children}</AccountContext.Provider>;
}

export function useAccount(): Account {
  const account = useContext(AccountContext);
  if (!account) throw new Error('useAccount outside AccountProvider');
  return account;
}
