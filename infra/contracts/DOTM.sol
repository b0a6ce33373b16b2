// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.30;

/// @title DOTM — the reward token of the DOTM mobile operator.
/// @notice ERC-20, 18 decimals, hard cap of 10,333,333 DOTM checked on every mint. Rewards are
/// minted with an id that can be paid only once, so a retried mint is refused by the chain
/// itself and the `RewardMinted` events prove that no reward was paid twice.
contract DOTM {
    string public constant name = "DOTM";
    string public constant symbol = "DOTM";
    uint8 public constant decimals = 18;
    uint256 public constant MAX_SUPPLY = 10_333_333 * 10 ** 18;

    uint256 public totalSupply;
    address public owner;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => bool) public isMinter;
    mapping(bytes32 => bool) public rewardPaid;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event MinterChanged(address indexed minter, bool allowed);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event RewardMinted(bytes32 indexed rewardId, address indexed to, uint256 amount);

    error OverMaxSupply(uint256 requested, uint256 remaining);
    error NotMinter(address caller);
    error NotOwner(address caller);
    error RewardAlreadyPaid(bytes32 rewardId);
    error ZeroAddress();
    error InsufficientBalance(address from, uint256 balance, uint256 needed);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyMinter() {
        if (!isMinter[msg.sender]) revert NotMinter(msg.sender);
        _;
    }

    function setMinter(address minter, bool allowed) external onlyOwner {
        if (minter == address(0)) revert ZeroAddress();
        isMinter[minter] = allowed;
        emit MinterChanged(minter, allowed);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Mints a reward once: the same `rewardId` is refused ever after.
    function mintReward(address to, uint256 amount, bytes32 rewardId) external onlyMinter {
        if (rewardPaid[rewardId]) revert RewardAlreadyPaid(rewardId);
        rewardPaid[rewardId] = true;
        _mint(to, amount);
        emit RewardMinted(rewardId, to, amount);
    }

    function remainingSupply() external view returns (uint256) {
        return MAX_SUPPLY - totalSupply;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ZeroAddress();
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert InsufficientAllowance(msg.sender, allowed, value);
            allowance[from][msg.sender] = allowed - value;
        }
        _transfer(from, to, value);
        return true;
    }

    function _mint(address to, uint256 amount) internal {
        if (to == address(0)) revert ZeroAddress();
        uint256 remaining = MAX_SUPPLY - totalSupply;
        if (amount > remaining) revert OverMaxSupply(amount, remaining);
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _transfer(address from, address to, uint256 value) internal {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balanceOf[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
